"""Bad inputs to `hrlib train` and the run folders it writes."""

from tests.bad_input_cases import Case

CASES: list[Case] = []
