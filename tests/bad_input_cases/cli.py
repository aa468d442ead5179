"""Bad inputs to the `hrlib` command itself: options, output streams, `sample`, `reproduce`."""

from tests.bad_input_cases import Case

CASES: list[Case] = []
