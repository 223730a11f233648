import sys

import torch
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from decoder_padding import padding_counts  # noqa: E402

from ws3dvg.text.vocab import KEEP, KEYWORD, PADDING  # noqa: E402


def test_useful_positions_by_hand():
    """One scene chunk of two sentence slots, K = 3, four word positions: the first sentence has three real words
    and two valid candidates, the second slot is padding. The decoder ran on 2 x 3 x 4 = 24 positions, and
    2 x 3 = 6 of them are a valid candidate's real word."""
    valid = torch.tensor([[[True, True, False], [False, False, False]]])
    tokens = torch.tensor([[[KEEP, KEYWORD, KEEP, PADDING], [PADDING] * 4]])
    sent_mask = torch.tensor([[True, False]])
    assert padding_counts(valid, tokens, sent_mask) == {"rows": 6, "valid_rows": 2, "decoded": 24, "useful": 6,
                                                        "real_words": 3}
    # a padded sentence slot's words never count, even if its codes were not padding
    tokens[0, 1] = KEEP
    assert padding_counts(valid, tokens, sent_mask)["useful"] == 6
    assert padding_counts(valid, tokens, sent_mask)["real_words"] == 3
