"""Captioning: greedy decoding (the paper) or beam search, up to 22 steps, cut at the first <eos>.

The paper's decoder gets z at every step and never its own previous word, so greedy decoding is one decoder
pass of ``max_steps`` steps followed by an arg-max; no step-by-step loop is needed (the attention
decoder's query is the GRU output, so the same holds for it). The autoregressive decoders
(``ModelConfig.decoder="autoregressive"``, not in the paper) read their previous token, so greedy decoding
runs step by step and feeds each step's arg-max back (``<sos>`` first).

Beam search (``DecodeConfig.beam_size`` k > 1, :func:`beam_search_token_indices`) works for every decoder.
It keeps the k best unfinished hypotheses by total log-probability; at each step it ranks the 2k best
extensions of all of them, a hypothesis extended by ``<eos>`` among the k best of these is finished (scored
by its total log-probability, ``<eos>`` included) and the best k extensions by other tokens stay in the beam.
A clip is done when its best finished hypothesis scores at least as high as its best unfinished one (log-
probabilities only fall, so none can overtake it) or after ``max_steps``, when unfinished hypotheses count as
they are. The caption with the highest total log-probability wins; there is **no length normalisation**, so
beam search leans towards short captions. With k = 1 it is greedy decoding exactly. For the paper's decoder
beam search is well defined but is *not* greedy decoding: its steps' distributions do not depend on the
earlier tokens, yet a hypothesis that takes a less likely ``<eos>`` early can outscore the greedy caption,
whose every further word costs log-probability.

A model in packed mode gets every clip's real frame count, so a clip's caption does not depend on the
other clips of its batch; in padded mode (the paper) it does, through the amount of front padding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from aac_subsampling.base.progress import progress_bar
from aac_subsampling.method.batching import FeatureSource, PadValue, feature_getter, front_pad_with_lengths
from aac_subsampling.method.model import CaptioningModel
from aac_subsampling.method.tokens import Vocabulary


@torch.no_grad()
def greedy_token_indices(
    model: CaptioningModel,
    features: torch.Tensor,
    max_steps: int = 22,
    lengths: torch.Tensor | None = None,
    eos_index: int | None = None,
) -> torch.Tensor:
    """(clips, T, F) -> (clips, max_steps) arg-max token indices; ``lengths``: real frame counts.

    An autoregressive decoder feeds each step's arg-max back; with ``eos_index`` it stops once every clip has
    emitted ``<eos>`` and fills the rest of each row with ``<eos>``.
    """
    if not model.autoregressive:
        return model(features, max_steps, lengths=lengths).argmax(dim=-1)
    state = model.start_decoding(features, max_steps, lengths)
    token = torch.full((features.shape[0],), model.start_index, dtype=torch.long, device=features.device)
    chosen = []
    ended = torch.zeros_like(token, dtype=torch.bool)
    for _ in range(max_steps):
        logits, state = model.decoding_step(state, token)
        token = logits.argmax(dim=-1)
        if eos_index is not None:
            token = token.masked_fill(ended, eos_index)
            ended |= token == eos_index
        chosen.append(token)
        if eos_index is not None and bool(ended.all()):
            break
    indices = torch.stack(chosen, dim=1) if chosen else token.new_empty((token.shape[0], 0))
    if indices.shape[1] < max_steps:
        indices = nn.functional.pad(indices, (0, max_steps - indices.shape[1]), value=eos_index)
    return indices


def validate_beam_size(beam_size: object) -> int:
    """k must be an integer >= 1 (1: greedy decoding)."""
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"DecodeConfig.beam_size must be an integer >= 1 (1: greedy), got {beam_size!r}")
    return beam_size


@torch.no_grad()
def beam_search_token_indices(
    model: CaptioningModel,
    features: torch.Tensor,
    beam_size: int,
    eos_index: int,
    max_steps: int = 22,
    lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Beam search (see the module docstring): (clips, T, F) -> token indices (clips, max_steps), each row
    ending with ``<eos>`` repeated after its caption (or ``max_steps`` tokens without one), and each caption's
    total log-probability (clips,), float64.

    The model runs on ``clips x beam_size`` rows; scores are summed in float64 from the float32 scores'
    log-softmax, so that beam_size = 1 ranks tokens exactly as the arg-max of greedy decoding does.
    """
    k = validate_beam_size(beam_size)
    n_clips, device = features.shape[0], features.device
    state = model.start_decoding(features, max_steps, lengths)
    state = state.select(torch.arange(n_clips, device=device).repeat_interleave(k))
    scores = torch.full((n_clips, k), -math.inf, dtype=torch.float64)
    scores[:, 0] = 0.0  # one hypothesis (the empty caption) to begin with
    history = torch.empty((n_clips, k, 0), dtype=torch.long)
    previous = torch.full((n_clips * k,), model.start_index, dtype=torch.long, device=device)
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(n_clips)]
    done = [False] * n_clips
    for _ in range(max_steps):
        logits, state = model.decoding_step(state, previous)
        log_probabilities = torch.log_softmax(logits.double(), dim=-1).cpu()
        n_tokens = log_probabilities.shape[-1]
        candidates = (scores.unsqueeze(-1) + log_probabilities.view(n_clips, k, n_tokens)).view(n_clips, -1)
        top_scores, top_index = candidates.topk(min(2 * k, candidates.shape[1]), dim=1)
        new_scores = torch.full((n_clips, k), -math.inf, dtype=torch.float64)
        new_beams = torch.zeros((n_clips, k), dtype=torch.long)
        new_tokens = torch.full((n_clips, k), eos_index, dtype=torch.long)
        for clip in range(n_clips):
            if done[clip]:
                continue
            live = 0
            for rank, (score, index) in enumerate(zip(top_scores[clip].tolist(), top_index[clip].tolist())):
                if score == -math.inf or live == k:
                    break
                beam, token = divmod(index, n_tokens)
                if token == eos_index:
                    if rank < k:
                        finished[clip].append((score, history[clip, beam].tolist() + [token]))
                    continue
                new_scores[clip, live], new_beams[clip, live], new_tokens[clip, live] = score, beam, token
                live += 1
            best_finished = max((score for score, _ in finished[clip]), default=-math.inf)
            if live == 0 or best_finished >= new_scores[clip, 0].item():
                done[clip] = True
                new_scores[clip] = -math.inf
        if all(done):
            break
        scores = new_scores
        history = torch.cat([history.gather(1, new_beams.unsqueeze(-1).expand_as(history)), new_tokens[..., None]], 2)
        rows = (torch.arange(n_clips).unsqueeze(1) * k + new_beams).view(-1)
        state = state.select(rows.to(device))
        previous = new_tokens.view(-1).to(device)
    for clip in range(n_clips):  # max_steps reached: unfinished hypotheses count as they are
        if not done[clip]:
            finished[clip].extend(
                (score, history[clip, beam].tolist())
                for beam, score in enumerate(scores[clip].tolist())
                if score > -math.inf
            )
    indices = torch.full((n_clips, max_steps), eos_index, dtype=torch.long)
    totals = torch.empty(n_clips, dtype=torch.float64)
    for clip, hypotheses in enumerate(finished):
        if not hypotheses:  # only when every score was -inf or NaN: an empty caption
            totals[clip] = -math.inf
            continue
        score, tokens = max(hypotheses, key=lambda hypothesis: hypothesis[0])  # the first of equals
        indices[clip, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        totals[clip] = score
    return indices.to(device), totals


def token_indices(
    model: CaptioningModel,
    features: torch.Tensor,
    eos_index: int,
    max_steps: int = 22,
    lengths: torch.Tensor | None = None,
    beam_size: int = 1,
) -> torch.Tensor:
    """Greedy decoding (``beam_size`` 1) or beam search: (clips, T, F) -> (clips, max_steps) token indices."""
    if validate_beam_size(beam_size) == 1:
        return greedy_token_indices(model, features, max_steps, lengths, eos_index)
    return beam_search_token_indices(model, features, beam_size, eos_index, max_steps, lengths)[0]


def greedy_decode(
    model: CaptioningModel,
    clip_ids: Sequence[str],
    features: FeatureSource,
    vocabulary: Vocabulary,
    max_steps: int = 22,
    batch_size: int = 16,
    progress: bool = True,
    pad_value: PadValue | None = None,
    beam_size: int = 1,
) -> dict[str, str]:
    """Caption every clip, in batches of ``batch_size`` clips taken in the given order.

    Clips of a batch are front-padded to the longest one with ``pad_value``, as in training (use the
    same value, :func:`aac_subsampling.method.batching.pad_value_for`; None: zeros, which a model trained
    with ``padding="silence"`` refuses); keep ``clip_ids`` in a fixed order (sorted names) so that the
    captions do not depend on directory listing order. A packed-mode model also gets the clips' frame
    counts. ``beam_size`` (``DecodeConfig.beam_size``): 1 is greedy decoding, more is beam search (see the
    module docstring; the name stays ``greedy_decode`` for its callers).
    """
    validate_beam_size(beam_size)
    if pad_value is None:
        if model.config.padding != "zeros":
            raise ValueError(
                f"the model was trained with padding={model.config.padding!r}: pass greedy_decode the same "
                f"pad_value (aac_subsampling.method.batching.pad_value_for)"
            )
        pad_value = 0.0
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    get = feature_getter(features)
    captions: dict[str, str] = {}
    packed = model.config.sequence_mode == "packed"
    try:
        starts = range(0, len(clip_ids), batch_size)
        for start in progress_bar(starts, desc="decoding", disable=not progress):
            chunk = list(clip_ids[start : start + batch_size])
            batch, lengths = front_pad_with_lengths([get(c) for c in chunk], pad_value)
            indices = token_indices(
                model, batch.to(device), vocabulary.eos_index, max_steps, lengths if packed else None, beam_size
            )
            indices = indices.cpu().tolist()
            captions.update({clip: vocabulary.decode(row) for clip, row in zip(chunk, indices)})
    finally:
        model.train(was_training)
    return captions
