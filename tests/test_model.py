"""The encoder-decoder: parameter count, Table 2 lengths, Eq. 4-6 on hand-made tensors."""

import pytest
import torch

from aac_subsampling.method.config import ModelConfig
from aac_subsampling.method.model import (
    CaptioningModel,
    Encoder,
    count_parameters,
    encoder_output_length,
    encoder_summary,
    measure_encoder_lengths,
    residual,
    subsample,
)

PAPER_VOCABULARY_SIZE = 4367
# Table 2 of the paper: encoder output length for 1292 and 2584 input frames.
TABLE2_LENGTHS = {1: (1292, 2584), 2: (323, 646), 4: (80, 161), 8: (20, 40), 16: (5, 10)}
CEIL_LENGTHS = {1: (1292, 2584), 2: (323, 646), 4: (81, 162), 8: (21, 41), 16: (6, 11)}


@pytest.mark.parametrize("factor", [1, 2, 4, 8, 16])
def test_parameter_count_is_the_papers_for_every_factor(factor):
    model = CaptioningModel(ModelConfig(subsampling_factor=factor), PAPER_VOCABULARY_SIZE)
    assert count_parameters(model) == 4_573_711


def test_parameter_count_splits_as_in_the_spec():
    model = CaptioningModel(ModelConfig(), PAPER_VOCABULARY_SIZE)
    assert count_parameters(model.encoder) == 2_860_032
    assert count_parameters(model.decoder.gru) == 591_360
    assert count_parameters(model.decoder.classifier) == 257 * PAPER_VOCABULARY_SIZE


@pytest.mark.parametrize("factor", [1, 2, 4, 8, 16])
def test_real_encoder_gives_table2_lengths(factor):
    encoder = Encoder(ModelConfig(subsampling_factor=factor))
    measured = measure_encoder_lengths(encoder, (1292, 2584))
    assert (measured[1292], measured[2584]) == TABLE2_LENGTHS[factor]
    assert tuple(encoder_output_length(t, factor) for t in (1292, 2584)) == TABLE2_LENGTHS[factor]


@pytest.mark.parametrize("factor", [1, 2, 4, 8, 16])
def test_ceil_switch_gives_the_authors_code_lengths(factor):
    encoder = Encoder(ModelConfig(subsampling_factor=factor, subsampling_mode="ceil"))
    measured = measure_encoder_lengths(encoder, (1292, 2584))
    assert (measured[1292], measured[2584]) == CEIL_LENGTHS[factor]
    assert tuple(encoder_output_length(t, factor, mode="ceil") for t in (1292, 2584)) == CEIL_LENGTHS[factor]


def test_subsampling_keeps_frames_0_m_2m():
    sequence = torch.arange(11, dtype=torch.float32).view(1, 11, 1)
    assert subsample(sequence, 3).flatten().tolist() == [0, 3, 6]
    assert subsample(sequence, 3, "ceil").flatten().tolist() == [0, 3, 6, 9]
    assert subsample(sequence, 1).flatten().tolist() == list(range(11))
    with pytest.raises(ValueError, match="floor"):
        subsample(sequence, 2, "round")


def test_residual_and_summary_on_hand_made_tensors():
    output = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    layer_input = torch.tensor([[[10.0, 20.0], [30.0, 40.0]]])
    assert residual(output, layer_input).tolist() == [[[11.0, 22.0], [33.0, 44.0]]]
    assert encoder_summary(torch.tensor([[[1.0], [2.0], [3.0]], [[4.0], [5.0], [6.0]]])).tolist() == [[3.0], [6.0]]


def test_residual_switch_changes_which_layers_add_their_input():
    paper = Encoder(ModelConfig(residual_mode="paper"))
    code = Encoder(ModelConfig(residual_mode="code"))
    assert [paper.has_residual(i) for i in range(3)] == [False, True, True]
    assert [code.has_residual(i) for i in range(3)] == [False, True, False]


def test_residual_really_adds_the_subsampled_input():
    config = ModelConfig(n_mels=4, encoder_hidden=2, subsampling_factor=2, dropout=0.0)
    encoder = Encoder(config)
    features = torch.randn(2, 16, 4)
    with torch.no_grad():
        h1, _ = encoder.layers[0](features)
        x2 = subsample(h1, 2)
        h2 = encoder.layers[1](x2)[0] + x2
        x3 = subsample(h2, 2)
        h3 = encoder.layers[2](x3)[0] + x3
        assert torch.allclose(encoder(features), h3)
    code_encoder = Encoder(
        ModelConfig(n_mels=4, encoder_hidden=2, subsampling_factor=2, dropout=0.0, residual_mode="code")
    )
    code_encoder.load_state_dict(encoder.state_dict())
    with torch.no_grad():
        assert torch.allclose(code_encoder(features), encoder.layers[2](x3)[0])


@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, "2", True])
def test_bad_subsampling_factor_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="sub-sampling factor M"):
        CaptioningModel(ModelConfig(subsampling_factor=bad), 10)


def test_too_short_input_is_a_clear_error():
    encoder = Encoder(ModelConfig(subsampling_factor=16))
    with pytest.raises(ValueError, match="at least M\\^\\(L-1\\) = 256"):
        encoder(torch.zeros(1, 255, 64))
    assert encoder(torch.zeros(1, 256, 64)).shape[1] == 1


def test_multi_caption_forward_shares_the_clip_summary():
    model = CaptioningModel(ModelConfig(n_mels=4, encoder_hidden=3, decoder_hidden=5, dropout=0.0), 7).eval()
    features = torch.randn(2, 6, 4)
    with torch.no_grad():
        shared = model(features, 4, torch.tensor([0, 0, 1, 1, 1]))
        separate = model(features[[0, 0, 1, 1, 1]], 4)
    assert shared.shape == (5, 4, 7)
    assert torch.allclose(shared, separate, atol=1e-6)


def test_code_dropout_placement_adds_dropout_after_encoder_and_on_decoder_input():
    paper = CaptioningModel(ModelConfig(), 10)
    code = CaptioningModel(ModelConfig(dropout_placement="code"), 10)
    assert paper.decoder.input_dropout.p == 0.0
    assert code.decoder.input_dropout.p == 0.25
    torch.manual_seed(0)
    features = torch.randn(1, 8, 64)
    code.train()
    first, second = code.encoder(features), code.encoder(features)
    assert not torch.equal(first[:, -1], second[:, -1])  # dropout acts on the last layer's output


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda():
    model = CaptioningModel(ModelConfig(subsampling_factor=4), 10).cuda()
    assert model(torch.zeros(2, 300, 64, device="cuda"), 5).shape == (2, 5, 10)


# ---------------------------------------------------------------- defaults stay the paper's (issue 12)

EXPECTED_STATE_KEYS = [
    f"encoder.layers.{layer}.{name}_l0{suffix}"
    for layer in range(3)
    for suffix in ("", "_reverse")
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
]
EXPECTED_STATE_KEYS = sorted(EXPECTED_STATE_KEYS) + [
    "decoder.gru.weight_ih_l0",
    "decoder.gru.weight_hh_l0",
    "decoder.gru.bias_ih_l0",
    "decoder.gru.bias_hh_l0",
    "decoder.classifier.weight",
    "decoder.classifier.bias",
]


def test_default_state_dict_keys_are_unchanged_so_old_checkpoints_load():
    keys = list(CaptioningModel(ModelConfig(), PAPER_VOCABULARY_SIZE).state_dict())
    assert sorted(keys) == sorted(EXPECTED_STATE_KEYS) and len(keys) == 30


def test_new_switches_default_to_the_paper():
    from aac_subsampling.method.config import Config

    config = Config()
    assert (config.model.sequence_mode, config.model.padding, config.model.decoder) == ("padded", "zeros", "paper")
    assert config.model.dropout_placement == "paper" and config.train.drop_last is False


def _paper_reference(encoder, decoder, features, n_steps):
    """The paper-mode forward pass written out: dropout on the input of layers 2 and 3 (drawn in that
    order), residual on both, z = last step, decoder fed z at every step."""
    h1 = encoder.layers[0](features)[0]
    x2 = torch.nn.functional.dropout(subsample(h1, 2), 0.25, True)
    h2 = encoder.layers[1](x2)[0] + x2
    x3 = torch.nn.functional.dropout(subsample(h2, 2), 0.25, True)
    h3 = encoder.layers[2](x3)[0] + x3
    output = decoder.gru(h3[:, -1].unsqueeze(1).expand(-1, n_steps, -1))[0]
    return decoder.classifier(output)


def test_paper_mode_training_forward_is_unchanged_for_the_same_seed():
    model = CaptioningModel(ModelConfig(n_mels=4, encoder_hidden=3, decoder_hidden=5, subsampling_factor=2), 7).train()
    features = torch.randn(2, 16, 4)
    torch.manual_seed(5)
    scores = model(features, 4, lengths=torch.tensor([16, 9]))  # padded mode ignores lengths
    after = torch.rand(3)
    torch.manual_seed(5)
    with torch.no_grad():
        assert torch.equal(scores.detach(), _paper_reference(model.encoder, model.decoder, features, 4))
    assert torch.equal(torch.rand(3), after)  # and draws exactly as many random numbers


@pytest.mark.parametrize("residual_mode", ["code", "paper"])
def test_code_dropout_drops_each_gru_output_before_the_residual(residual_mode):
    """Authors' code: H_1 = dropout(GRU_1(X)); H_2 = H_1'' + dropout(GRU_2(H_1'')); H_3 = dropout(GRU_3(H_2''))
    with the paper-era residual (layer 2 only), H_2'' + dropout(GRU_3(H_2'')) with the DCASE baseline's."""
    config = ModelConfig(
        n_mels=4,
        encoder_hidden=3,
        subsampling_factor=2,
        dropout_placement="code",
        residual_mode=residual_mode,
        subsampling_mode="ceil",
    )
    encoder = Encoder(config).train()
    features = torch.randn(2, 15, 4)
    drop = lambda x: torch.nn.functional.dropout(x, 0.25, True)  # noqa: E731
    torch.manual_seed(3)
    output = encoder(features)
    torch.manual_seed(3)
    with torch.no_grad():
        h1 = drop(encoder.layers[0](features)[0])
        x2 = subsample(h1, 2, "ceil")
        h2 = x2 + drop(encoder.layers[1](x2)[0])
        x3 = subsample(h2, 2, "ceil")
        h3 = drop(encoder.layers[2](x3)[0])
        if residual_mode == "paper":
            h3 = x3 + h3
    assert torch.equal(output.detach(), h3)


def test_code_dropout_draws_a_new_decoder_input_mask_at_every_step():
    model = CaptioningModel(ModelConfig(n_mels=4, encoder_hidden=8, decoder_hidden=5, dropout_placement="code"), 7)
    seen = []
    model.decoder.gru.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
    torch.manual_seed(0)
    model.train()(torch.randn(1, 6, 4), 22)
    dropped = seen[-1][0] == 0  # (steps, 16): where the decoder input was zeroed
    assert dropped.any()
    assert len({tuple(row.tolist()) for row in dropped}) > 1  # not one mask for all 22 steps
    paper = CaptioningModel(ModelConfig(n_mels=4, encoder_hidden=8, decoder_hidden=5), 7).train()
    seen.clear()
    paper.decoder.gru.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
    paper(torch.randn(1, 6, 4), 22)
    assert (seen[-1] == seen[-1][:, :1]).all()  # paper: z itself at every step


def test_authors_code_config_turns_on_everything_the_code_did():
    from aac_subsampling.method.config import Config, FeatureConfig, authors_code_overrides

    config = Config.authors_code()
    assert config.features == FeatureConfig.authors_code()
    assert (config.model.subsampling_mode, config.model.residual_mode, config.model.dropout_placement) == (
        "ceil",
        "code",
        "code",
    )
    assert config.train.drop_last is True
    assert (config.model.sequence_mode, config.model.padding, config.model.decoder) == ("padded", "zeros", "paper")
    assert Config().with_overrides(authors_code_overrides()) == config
    assert Config() != config  # the defaults stay the paper's


def test_bad_new_switches_are_clear_errors():
    with pytest.raises(ValueError, match="padding must be 'zeros' or 'silence'"):
        CaptioningModel(ModelConfig(padding="noise"), 10)
    with pytest.raises(ValueError, match="sequence_mode must be 'padded' or 'packed'"):
        CaptioningModel(ModelConfig(sequence_mode="ragged"), 10)
