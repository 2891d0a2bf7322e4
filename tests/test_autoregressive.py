"""The autoregressive decoders (not in the paper): configuration, size, teacher forcing, greedy and beam search."""

import math

import numpy as np
import pytest
import torch

from aac_subsampling.method.batching import front_pad_with_lengths
from aac_subsampling.method.config import Config, DecodeConfig, ModelConfig
from aac_subsampling.method.decoding import (
    beam_search_token_indices,
    greedy_decode,
    greedy_token_indices,
    token_indices,
)
from aac_subsampling.method.model import (
    AutoregressiveDecoder,
    CaptioningModel,
    Decoder,
    count_parameters,
    paper_parameter_count,
)
from aac_subsampling.method.paper import PAPER_PARAMETERS, PAPER_VOCABULARY_SIZE
from aac_subsampling.method.training import build_model, train_model

from helpers import CAPTIONS, TINY, tiny_problem

DECODERS = ("paper", "attention", "autoregressive", "autoregressive_attention")
AUTOREGRESSIVE = ("autoregressive", "autoregressive_attention")
# At D = 4367 with the default 64-value word embedding.
AUTOREGRESSIVE_PARAMETERS = 4_902_351  # 4,573,711 + embedding 4367 x 64 + GRU inputs 3 x 256 x 64
AUTOREGRESSIVE_ATTENTION_PARAMETERS = 5_426_639  # ... + keys 512 x 256 + GRU context inputs 3 x 256 x 512


def tiny(decoder: str, mode: str = "packed", **extra) -> ModelConfig:
    return ModelConfig(
        n_mels=4,
        encoder_hidden=6,
        decoder_hidden=5,
        subsampling_factor=2,
        sequence_mode=mode,
        decoder=decoder,
        word_embedding_size=3,
        **extra,
    )


def clips(*frame_counts: int) -> tuple[torch.Tensor, torch.Tensor]:
    return front_pad_with_lengths(
        [np.random.default_rng(i).standard_normal((n, 4)).astype(np.float32) for i, n in enumerate(frame_counts)]
    )


def cut(row, eos: int) -> list[int]:
    """Tokens up to and including the first <eos>."""
    row = list(row)
    return row[: row.index(eos) + 1] if eos in row else row


# ----------------------------------------------------------------------------------- configuration and size


def test_default_is_the_papers_decoder_and_greedy():
    config = Config()
    assert config.model.decoder == "paper" and config.model.word_embedding_size == 64
    assert config.decode.beam_size == 1 == DecodeConfig().beam_size
    assert isinstance(CaptioningModel(ModelConfig(), 10).decoder, Decoder)
    for decoder in AUTOREGRESSIVE:
        assert isinstance(CaptioningModel(ModelConfig(decoder=decoder), 10).decoder, AutoregressiveDecoder)


def test_unknown_decoder_and_bad_sizes_are_refused_naming_the_field():
    with pytest.raises(ValueError, match=r"ModelConfig\.decoder must be .*'autoregressive'.*got 'transformer'"):
        CaptioningModel(ModelConfig(decoder="transformer"), 10)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match=r"ModelConfig\.word_embedding_size must be an integer >= 1"):
            CaptioningModel(ModelConfig(decoder="autoregressive", word_embedding_size=bad), 10)
    with pytest.raises(ValueError, match="start_index"):
        CaptioningModel(ModelConfig(decoder="autoregressive"), 10, start_index=10)
    with pytest.raises(KeyError, match="word_embeding_size"):
        Config().with_overrides({"model": {"word_embeding_size": 32}})
    model = CaptioningModel(tiny("autoregressive"), 7)
    features, lengths = clips(9)
    for bad in (0, -1, 1.0, True):
        with pytest.raises(ValueError, match=r"DecodeConfig\.beam_size must be an integer >= 1"):
            token_indices(model, features, 6, 5, lengths, beam_size=bad)


def test_parameter_counts_beside_the_papers():
    """The paper's 4,573,711 at D = 4367 is untouched; the autoregressive decoders' counts, part by part."""
    assert paper_parameter_count(PAPER_VOCABULARY_SIZE) == PAPER_PARAMETERS == 4_573_711
    config = ModelConfig(decoder="autoregressive")
    assert paper_parameter_count(PAPER_VOCABULARY_SIZE, config) == AUTOREGRESSIVE_PARAMETERS
    model = CaptioningModel(config, PAPER_VOCABULARY_SIZE)
    assert count_parameters(model.encoder) == 2_860_032
    assert count_parameters(model.decoder.embedding) == PAPER_VOCABULARY_SIZE * 64
    assert count_parameters(model.decoder.gru) == 591_360 + 3 * 256 * 64
    assert count_parameters(model.decoder.classifier) == 257 * PAPER_VOCABULARY_SIZE
    config = ModelConfig(decoder="autoregressive_attention")
    assert paper_parameter_count(PAPER_VOCABULARY_SIZE, config) == AUTOREGRESSIVE_ATTENTION_PARAMETERS
    model = CaptioningModel(config, PAPER_VOCABULARY_SIZE)
    assert count_parameters(model.decoder.key) == 512 * 256
    assert count_parameters(model.decoder.gru) == 591_360 + 3 * 256 * (64 + 512)
    for decoder, expected in (("autoregressive", AUTOREGRESSIVE_PARAMETERS), ("paper", PAPER_PARAMETERS)):
        # sub-sampling still adds nothing
        assert paper_parameter_count(PAPER_VOCABULARY_SIZE, ModelConfig(decoder=decoder, subsampling_factor=16)) == (
            expected
        )
    assert paper_parameter_count(
        PAPER_VOCABULARY_SIZE, ModelConfig(decoder="autoregressive", word_embedding_size=128)
    ) == (PAPER_PARAMETERS + PAPER_VOCABULARY_SIZE * 128 + 3 * 256 * 128)


def test_start_token_is_sos_at_index_0():
    _, vocabulary, _, _ = tiny_problem()
    assert vocabulary.words[0] == "<sos>" and vocabulary.sos_index == 0
    assert CaptioningModel(ModelConfig(decoder="autoregressive"), len(vocabulary)).start_index == vocabulary.sos_index


# ----------------------------------------------------------------------------------- shapes and teacher forcing


@pytest.mark.parametrize("mode", ["packed", "padded"])
@pytest.mark.parametrize("decoder", DECODERS)
def test_shapes_and_caption_sharing(decoder, mode):
    torch.manual_seed(0)
    model = CaptioningModel(tiny(decoder, mode), 7).eval()
    features, lengths = clips(9, 16)
    caption_to_clip = torch.tensor([0, 0, 1, 1, 1])
    targets = torch.randint(1, 7, (5, 4))
    with torch.no_grad():
        shared = model(features, 4, caption_to_clip, lengths, targets=targets)
        separate = model(features[caption_to_clip], 4, lengths=lengths[caption_to_clip], targets=targets)
        free = model(features, 6, lengths=lengths)
    assert shared.shape == (5, 4, 7) and free.shape == (2, 6, 7)
    assert torch.allclose(shared, separate, atol=1e-6)
    assert greedy_token_indices(model, features, 6, lengths, eos_index=5).shape == (2, 6)
    indices, totals = beam_search_token_indices(model, features, 3, 5, 6, lengths)
    assert indices.shape == (2, 6) and totals.shape == (2,)


@pytest.mark.parametrize("decoder", ["paper", "attention"])
def test_the_papers_decoders_ignore_targets(decoder):
    model = CaptioningModel(tiny(decoder), 7).eval()
    features, lengths = clips(9, 16)
    with torch.no_grad():
        assert torch.equal(
            model(features, 4, lengths=lengths, targets=torch.ones(2, 4).long()), model(features, 4, lengths=lengths)
        )


@pytest.mark.parametrize("decoder", AUTOREGRESSIVE)
def test_teacher_forcing_reads_only_earlier_targets(decoder):
    """Step t's scores depend on targets 0 .. t-1 (through <sos> and the shifted caption), never on target t."""
    torch.manual_seed(0)
    model = CaptioningModel(tiny(decoder), 7).eval()
    features, lengths = clips(9, 16)
    targets = torch.tensor([[1, 2, 3, 4], [4, 3, 2, 1]])
    changed = targets.clone()
    changed[:, 2] = 6
    with torch.no_grad():
        scores = model(features, 4, lengths=lengths, targets=targets)
        other = model(features, 4, lengths=lengths, targets=changed)
    assert torch.equal(scores[:, :3], other[:, :3])
    assert not torch.allclose(scores[:, 3], other[:, 3])
    with pytest.raises(ValueError, match="at least 3 target tokens"):
        model(features, 4, lengths=lengths, targets=targets[:, :2])


@pytest.mark.parametrize("decoder", AUTOREGRESSIVE)
def test_teacher_forcing_equals_the_step_by_step_loop(decoder):
    """The one-pass teacher forcing (no attention) and the step loop (attention, decoding) compute the same."""
    torch.manual_seed(0)
    model = CaptioningModel(tiny(decoder), 7).eval()
    features, lengths = clips(9, 16)
    targets = torch.tensor([[1, 2, 3, 4], [4, 3, 2, 1]])
    with torch.no_grad():
        forced = model(features, 4, lengths=lengths, targets=targets)
        state = model.start_decoding(features, 4, lengths)
        previous, steps = torch.zeros(2, dtype=torch.long), []
        for step in range(4):
            logits, state = model.decoding_step(state, previous)
            steps.append(logits)
            previous = targets[:, step]
        free = model(features, 5, lengths=lengths)
    assert torch.allclose(forced, torch.stack(steps, 1), atol=1e-6)
    assert torch.equal(free.argmax(-1), greedy_token_indices(model, features, 5, lengths))


def test_code_dropout_acts_on_the_autoregressive_decoders_input():
    model = CaptioningModel(tiny("autoregressive", dropout=0.5, dropout_placement="code"), 7)
    features, lengths = clips(9, 16)
    targets = torch.tensor([[1, 2, 3], [4, 3, 2]])
    assert model.decoder.input_dropout.p == 0.5
    with torch.no_grad():
        model.eval()
        assert torch.equal(
            model(features, 3, lengths=lengths, targets=targets), model(features, 3, lengths=lengths, targets=targets)
        )
        model.train()
        assert not torch.equal(
            model(features, 3, lengths=lengths, targets=targets), model(features, 3, lengths=lengths, targets=targets)
        )


def test_packed_autoregressive_captions_do_not_depend_on_the_batch():
    torch.manual_seed(0)
    model = CaptioningModel(tiny("autoregressive_attention"), 7).eval()
    features, lengths = clips(9, 20, 13)
    together = beam_search_token_indices(model, features, 2, 5, 6, lengths)[0]
    for index, n_frames in enumerate(lengths.tolist()):
        alone = features[index : index + 1, -n_frames:]  # the same clip, without the batch's padding
        alone_indices = beam_search_token_indices(model, alone, 2, 5, 6, torch.tensor([n_frames]))[0]
        assert torch.equal(alone_indices[0], together[index])


# ----------------------------------------------------------------------------------- greedy and beam search


@pytest.mark.parametrize("decoder", DECODERS)
def test_beam_of_one_is_greedy_decoding(decoder):
    eos = 5
    for seed in range(3):
        torch.manual_seed(seed)
        model = CaptioningModel(tiny(decoder), 7).eval()
        features, lengths = clips(9, 16, 12, 20)
        greedy = greedy_token_indices(model, features, 8, lengths, eos_index=eos).tolist()
        beam, totals = beam_search_token_indices(model, features, 1, eos, 8, lengths)
        assert [cut(row, eos) for row in beam.tolist()] == [cut(row, eos) for row in greedy]
        assert torch.equal(token_indices(model, features, eos, 8, lengths, beam_size=1), torch.tensor(greedy))
        assert torch.isfinite(totals).all()


@pytest.mark.parametrize("decoder", DECODERS)
def test_beam_scores_are_the_captions_log_probabilities(decoder):
    """Each beam caption's total equals its log-probability under teacher forcing (<eos> included)."""
    eos = 5
    torch.manual_seed(1)
    model = CaptioningModel(tiny(decoder), 7).eval()
    features, lengths = clips(9, 16, 12)
    indices, totals = beam_search_token_indices(model, features, 3, eos, 6, lengths)
    with torch.no_grad():
        log_probabilities = torch.log_softmax(model(features, 6, lengths=lengths, targets=indices).double(), -1)
    for clip, row in enumerate(indices.tolist()):
        tokens = cut(row, eos)
        expected = sum(log_probabilities[clip, step, token].item() for step, token in enumerate(tokens))
        assert math.isclose(totals[clip].item(), expected, abs_tol=1e-5)
    greedy = greedy_token_indices(model, features, 6, lengths, eos_index=eos)
    if decoder in ("paper", "attention"):  # independent steps: the best prefix is greedy's, so beam >= greedy
        with torch.no_grad():
            log_probabilities = torch.log_softmax(model(features, 6, lengths=lengths).double(), -1)
        for clip, row in enumerate(greedy.tolist()):
            tokens = cut(row, eos)
            greedy_total = sum(log_probabilities[clip, step, token].item() for step, token in enumerate(tokens))
            assert totals[clip].item() >= greedy_total - 1e-9


def test_beam_search_on_the_papers_decoder_can_prefer_an_early_eos():
    """Independent steps do not make beam search greedy: with p(word) = 0.5 and p(<eos>) = 0.4 at every step,
    greedy says the word 6 times (log 0.5^6 = -4.16) and beam search ends at once (log 0.4 = -0.92): no
    length normalisation."""
    model = CaptioningModel(tiny("paper"), 3).eval()  # tokens: <sos>, a word, <eos>
    with torch.no_grad():
        model.decoder.classifier.weight.zero_()
        model.decoder.classifier.bias.copy_(torch.log(torch.tensor([0.1, 0.5, 0.4])))
    features, lengths = clips(9)
    assert greedy_token_indices(model, features, 6, lengths, eos_index=2).tolist() == [[1] * 6]
    indices, totals = beam_search_token_indices(model, features, 2, 2, 6, lengths)
    assert indices.tolist() == [[2] * 6]
    assert math.isclose(totals.item(), math.log(0.4), rel_tol=1e-6)


def test_beam_search_keeps_an_unfinished_caption_at_max_steps():
    """p(word) = 0.89, p(<eos>) = 0.01: no <eos> ever ranks among the beam's best, and after max_steps the best
    unfinished hypothesis (the word 6 times, log 0.89^6) is the caption."""
    model = CaptioningModel(tiny("paper"), 3).eval()
    with torch.no_grad():
        model.decoder.classifier.weight.zero_()
        model.decoder.classifier.bias.copy_(torch.log(torch.tensor([0.1, 0.89, 0.01])))
    features, lengths = clips(9)
    indices, totals = beam_search_token_indices(model, features, 2, 2, 6, lengths)
    assert indices.tolist() == [[1] * 6]
    assert math.isclose(totals.item(), 6 * math.log(0.89), rel_tol=1e-6)


# ----------------------------------------------------------------------------------- a tiny set, learnt


@pytest.fixture(scope="module", params=AUTOREGRESSIVE)
def trained(request):
    overrides = {
        **TINY,
        "model": {**TINY["model"], "decoder": request.param},
        "train": {**TINY["train"], "max_epochs": 30, "patience": 30},
    }
    config, vocabulary, dataset, features = tiny_problem(overrides)
    model = build_model(config, len(vocabulary))
    result = train_model(model, dataset, vocabulary.frequencies(), config, progress=False)
    return model.eval(), result, vocabulary, dataset, features


def test_tiny_set_is_learnt_exactly(trained):
    model, result, vocabulary, _, features = trained
    assert result.history[-1]["loss"] < 0.25 * result.history[0]["loss"]
    for beam_size in (1, 3):
        decoded = greedy_decode(model, sorted(CAPTIONS), features, vocabulary, progress=False, beam_size=beam_size)
        assert decoded == CAPTIONS, (beam_size, decoded)


def test_teacher_forced_argmax_equals_free_running_on_the_training_captions(trained):
    model, _, vocabulary, _, features = trained
    names = sorted(CAPTIONS)
    batch, lengths = front_pad_with_lengths([features[name] for name in names])
    width = max(len(vocabulary.encode(CAPTIONS[name])) for name in names)
    targets = torch.nn.utils.rnn.pad_sequence(
        [torch.tensor(vocabulary.encode(CAPTIONS[name])) for name in names],
        batch_first=True,
        padding_value=vocabulary.eos_index,
    )
    assert targets.shape[1] == width
    packed = model.config.sequence_mode == "packed"
    with torch.no_grad():
        forced = model(batch, width, lengths=lengths if packed else None, targets=targets).argmax(-1)
    free = greedy_token_indices(model, batch, width, lengths if packed else None, eos_index=vocabulary.eos_index)
    eos = vocabulary.eos_index
    assert [cut(row, eos) for row in forced.tolist()] == [cut(row, eos) for row in free.tolist()]
    assert [cut(row, eos) for row in free.tolist()] == [cut(row, eos) for row in targets.tolist()]


def test_the_pipeline_decodes_with_the_configured_beam(monkeypatch):
    """DecodeConfig.beam_size reaches the evaluation's decoding (warm-up batch and timed pass alike)."""
    from aac_subsampling.experiment import pipeline

    seen = []
    monkeypatch.setattr(
        pipeline.evaluate, "greedy_decode", lambda *args, **kwargs: seen.append(kwargs["beam_size"]) or {}
    )
    pipeline.timed_decode(torch.nn.Linear(1, 1), ["a", "b"], {}, None, 22, 1, False, beam_size=3)
    assert seen == [3, 3]
