"""The examples in the public classes' docstrings run and print what they say."""
import doctest

import pytest

from mmseq.models.backbones import sequencer2d, vanilla_sequencer
from mmseq.models.layers import bilstm2d


@pytest.mark.parametrize('module', [sequencer2d, vanilla_sequencer, bilstm2d])
def test_docstring_examples(module):
    result = doctest.testmod(module, raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0
