"""Bad inputs to `hrlib zoo create`, `zoo import`, `zoo info` and the zoo and build folders."""

from tests.bad_input_cases import Case

CASES: list[Case] = []
