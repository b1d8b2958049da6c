"""What every adversarial objective shares; the loop in ``training/adversarial.py`` sees only this.

An objective owns the two optimizers and whatever state its loss needs (a rollout copy of G,
...). Per generator step the loop calls ``discriminator_step`` ``d_steps_per_g_step`` times, then
``generator_step`` once, each with a fresh real batch; both return 0-d tensors to log (the loop
averages them on the device and reads them back once per ``log_every`` window). Adding a loss =
one file subclassing :class:`Objective` (or, for the Gumbel-softmax family, :class:`RelaxedObjective`
with its ``d_loss``/``g_loss`` hooks) + one line in the registry (``objectives/__init__``). The
file declares everything else derived from the registry: :attr:`Objective.section` and
:attr:`Objective.config` (its ``adversarial.<section>`` params), :attr:`Objective.log_keys` (plot
columns) and :attr:`Objective.discriminator_settings` (D spec overrides).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Literal

import torch
import torch.nn.functional as F
from torch import nn

from gantext.configfields import param
from gantext.models.discriminator_base import TextDiscriminator
from gantext.models.generator import Generator

if TYPE_CHECKING:  # config.py builds AdversarialConfig from this registry: no runtime import
    from gantext.config import AdversarialConfig


class NonFiniteLoss(ArithmeticError):
    """A loss became NaN/inf; the loop turns it into a TrainingError naming the step."""

    def __init__(self, what: str, value: float):
        super().__init__(f"{what} is {value}")
        self.what = what
        self.value = value


def anneal(beta_max: float, schedule: str, step: int, steps: int) -> float:
    """Inverse temperature of the Gumbel-softmax at `step` of `steps` (RelGAN's schedules):
    exp: beta_max ** (step / steps); linear: 1 + (beta_max - 1) * step / steps; constant: beta_max."""
    frac = min(max(step / steps, 0.0), 1.0) if steps > 0 else 1.0
    if schedule == "exp":
        return float(beta_max ** frac)
    if schedule == "linear":
        return float(1.0 + (beta_max - 1.0) * frac)
    if schedule == "constant":
        return float(beta_max)
    raise ValueError(f"unknown temperature schedule {schedule!r}; valid: exp, linear, constant")


class Objective:
    """Base class: optimizers, clipped updates with a NaN/inf guard, checkpointable state.

    Subclasses implement :meth:`discriminator_step` and :meth:`generator_step` and may override
    :meth:`prepare` (runs once before step 0), :meth:`temperature`, :attr:`d_steps_per_g_step`;
    they set :attr:`section` and :attr:`config`, their own section of ``adversarial`` in
    params.yaml (which holds their g_lr, d_lr and Adam betas).
    """

    #: the objective's own section of ``adversarial`` (its knobs and Adam settings)
    section: ClassVar[str] = ""
    #: the frozen dataclass of that section (validated by ``load_params``, unknown keys named)
    config: ClassVar[type]
    #: what the D and G steps log besides ``d_loss``, ``g_loss`` and the gradient norms (the
    #: adversarial plot's columns are the union over the registry)
    log_keys: ClassVar[tuple[str, ...]] = ()
    #: overrides of ``model.discriminator`` for this objective (e.g. no dropout in a critic)
    discriminator_settings: ClassVar[dict[str, Any]] = {}
    #: the D architecture used when the objective needs a score per prefix and
    #: ``model.discriminator.arch`` has none (None: the objective takes any D)
    prefix_discriminator: ClassVar[str | None] = None
    #: discriminator (critic) steps before each generator step
    d_steps_per_g_step: int = 1

    def __init__(self, generator: Generator, discriminator: TextDiscriminator, cfg: AdversarialConfig,
                 max_len: int, device: torch.device, rng: torch.Generator):
        self.G = generator
        self.D = discriminator
        self.cfg = cfg
        self.max_len = max_len
        self.device = torch.device(device)
        self.rng = rng  # the single noise stream of training (checkpointed by the loop)
        self.vocab_size = generator.spec.vocab_size
        self.ocfg = getattr(cfg, self.section)
        betas = (self.ocfg.adam_beta1, self.ocfg.adam_beta2)
        self.g_opt = torch.optim.Adam(self.G.parameters(), lr=self.ocfg.g_lr, betas=betas)
        # an objective without a discriminator (the mle-continued control) has no d_lr
        d_lr = getattr(self.ocfg, "d_lr", None)
        self.d_opt = (torch.optim.Adam(self.D.parameters(), lr=d_lr, betas=betas)
                      if d_lr is not None else None)
        # rows sampled ahead from the current G (see :meth:`samples`), by temperature
        self._pool: dict[float, torch.Tensor] = {}
        self._pretraining = 0  # D pretraining steps left (their fakes are drawn in one pass)

    # ------------------------------------------------------------------ hooks

    def temperature(self, step: int) -> float:
        """Inverse temperature used at `step` (1.0 for objectives that sample discretely)."""
        return 1.0

    def prepare(self, real_batches: Iterable[torch.Tensor]) -> dict[str, float]:
        """One-off work before the first step (e.g. discriminator pretraining)."""
        return {}

    def discriminator_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def generator_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # ------------------------------------------------------------------ shared mechanics
    def samples(self, n: int, temperature: float = 1.0, ahead: int = 1) -> torch.Tensor:
        """`n` encoded rows sampled from G at `temperature`, drawn `ahead` batches at a time.

        Decoding a small batch is mostly per-step overhead, so the discrete objectives draw the
        fakes of every D step of a round (and of the G step, when it samples at the same
        temperature) in one pass. Only valid while G does not change in between: callers pass
        `ahead` = the number of draws left before the next G update (a G step uses the rows
        drawn before its own update), so no row from an older G is ever served."""
        pool = self._pool.get(temperature)
        if pool is None or len(pool) < n:
            was = self.G.training
            self.G.eval()  # no dropout anyway (set to 0): eval only skips the train-mode work
            try:
                pool, _ = self.G.sample(n * max(ahead, 1), self.max_len, temperature, self.rng)
            finally:
                self.G.train(was)
        self._pool[temperature] = pool[n:]
        if not len(self._pool[temperature]):
            del self._pool[temperature]
        return pool[:n]

    def bce_discriminator_update(self, real: torch.Tensor, fake: torch.Tensor
                                 ) -> dict[str, torch.Tensor]:
        """One D update of the discrete-sample objectives (seqgan, coldgan): binary
        cross-entropy, real rows -> 1 and sampled rows -> 0; returns the step's logs."""
        d_real = self.D(real.to(self.device))
        d_fake = self.D(fake)
        loss = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        norm = self.update(self.d_opt, self.D, loss, "discriminator loss")
        return {"d_loss": loss.detach(), **bce_accuracies(d_real, d_fake), "d_grad_norm": norm}

    def pretrain_discriminator(self, real_batches: Iterable[torch.Tensor], steps: int,
                               desc: str) -> dict[str, float]:
        """`steps` D steps on real vs generator samples before training (so the first rewards
        carry signal); returns the last ten steps' mean logs as ``pretrain_<key>``."""
        from gantext.progress import progress

        self._pretraining = steps  # D steps left: their fakes come from one fixed G (see samples)
        logs = []
        for _, real in zip(progress(range(steps), desc=desc, unit="step", leave=False),
                           real_batches):
            logs.append(self.discriminator_step(real, 0))
            self._pretraining -= 1
        self._pretraining = 0
        self._pool.clear()
        tail = logs[-10:]
        return ({f"pretrain_{k}": float(sum(d[k] for d in tail) / len(tail)) for k in logs[0]}
                if logs else {})

    def update(self, opt: torch.optim.Optimizer, module: nn.Module, loss: torch.Tensor,
               what: str) -> torch.Tensor:
        """Backward, clip to ``grad_clip``, step; returns the gradient norm before clipping.

        Raises :class:`NonFiniteLoss` before touching the weights if the loss (or the gradient)
        is NaN/inf, so the last good state is the one the loop checkpointed. One host sync per
        update (loss and norm are checked together): the weights must not take a NaN step."""
        opt.zero_grad(set_to_none=True)
        loss.backward()
        return self.apply_gradients(opt, module, loss, what)

    def apply_gradients(self, opt: torch.optim.Optimizer, module: nn.Module, loss: torch.Tensor,
                        what: str) -> torch.Tensor:
        """The second half of :meth:`update` for gradients already in ``.grad`` (accumulated over
        micro-batches; `loss` their summed loss, checked with the norm): clip, check, step."""
        norm = nn.utils.clip_grad_norm_(module.parameters(), self.cfg.grad_clip)
        if not bool(torch.isfinite(loss.detach()) & torch.isfinite(norm)):
            opt.zero_grad(set_to_none=True)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise NonFiniteLoss(what, value)
            raise NonFiniteLoss(f"gradient norm of {what}", float(norm))
        opt.step()
        return norm.detach()

    def mle_loss(self, real: torch.Tensor) -> torch.Tensor:
        """G's mean NLL per token of a real batch: the control's whole loss, and the optional
        teacher-forcing term (``mle_weight``) of the objectives that mix it in."""
        total, count = self.G.nll(real.to(self.device))
        return total / max(count, 1)

    def with_mle_term(self, loss: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """`loss` + the section's ``mle_weight`` x :meth:`mle_loss` of `real` (unchanged at 0,
        the default, and in sections without the knob)."""
        weight = getattr(self.ocfg, "mle_weight", 0.0)
        return loss + weight * self.mle_loss(real) if weight > 0 else loss

    def state_dict(self) -> dict[str, Any]:
        """Optimizer states and objective-specific state (G, D and RNGs are saved by the loop)."""
        return {"g_opt": self.g_opt.state_dict(),
                "d_opt": self.d_opt.state_dict() if self.d_opt is not None else None,
                "pool": dict(self._pool)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.g_opt.load_state_dict(state["g_opt"])
        if self.d_opt is not None:
            self.d_opt.load_state_dict(state["d_opt"])
        self._pool = dict(state.get("pool", {}))


def bce_accuracies(d_real: torch.Tensor, d_fake: torch.Tensor) -> dict[str, torch.Tensor]:
    """Fractions of real rows D scores real (logit > 0) and of fakes it scores fake."""
    return {"d_acc_real": (d_real > 0).float().mean(), "d_acc_fake": (d_fake < 0).float().mean()}


@dataclass(frozen=True)
class SampledDConfig:
    """Settings every objective has whose D learns real rows vs sampled ids (seqgan, coldgan,
    reverse-kl): D pretraining, D steps per G step, Adam. Their own knobs come after these."""

    d_pretrain_steps: int = param(500, ge=0, help="D steps on real vs MLE samples before step 0")
    d_steps: int = param(1, ge=1, help="D steps per generator step")
    d_temperature: float = param(1.0, gt=0.0, help="temperature of the samples D learns to reject "
                                 "(1: what evaluation draws; > 1: more of G's errors per batch)")
    g_lr: float = param(1e-4, gt=0.0)
    d_lr: float = param(1e-3, gt=0.0)
    adam_beta1: float = param(0.9, ge=0.0, lt=1.0)
    adam_beta2: float = param(0.999, ge=0.0, lt=1.0)


class SampledDObjective(Objective):
    """Objectives whose D is a classifier of real rows vs the generator's samples (seqgan,
    coldgan, reverse-kl; config: a :class:`SampledDConfig`): D is pretrained for
    ``d_pretrain_steps`` so the first rewards carry signal, then takes ``d_steps`` BCE steps per
    generator step on samples at ``d_temperature`` (default 1, what evaluation draws).

    Why a hotter D is offered: a generator's errors are rare at T = 1, and D trained on those
    samples learns the easier cues first. On the built-in grammar, D trained at T = 1 ranks the
    MLE's invalid samples below its valid ones with AUC 0.58 after 3,000 steps, D trained on
    T = 1.5 samples with 0.70, read on T = 1 samples (``bench/grammar_validity.py`` and
    docs/adversarial-methods.md). Its logit then estimates log p_data / p_G at d_temperature, not
    at 1: a biased reward, as ColdGAN's off-policy samples are biased before their correction.
    Measured there with reverse-kl (validation split): d_temperature 1.5 and 2 raised validity at
    T = 1 with less diversity and 7-12x MLE's FID, and lowered it at the data's self-BLEU-5, so
    the default stays 1."""

    #: temperature of the generator step's own samples (coldgan: its exploration sampler)
    g_temperature: float = 1.0
    #: batches of samples the generator step takes (drawn with the round's D fakes)
    g_batches: int = 1

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.d_steps_per_g_step = self.ocfg.d_steps

    def prepare(self, real_batches: Iterable[torch.Tensor]) -> dict[str, float]:
        """Pretrain D on real vs MLE samples so the first rewards carry signal."""
        return self.pretrain_discriminator(real_batches, self.ocfg.d_pretrain_steps,
                                           f"{self.cfg.loss}: D pretraining")

    def d_fakes(self, n: int) -> torch.Tensor:
        """`n` fakes for a D step, at ``d_temperature``."""
        t = self.ocfg.d_temperature
        # one draw for the round: this D step's fakes, the later D steps' and, when the G step
        # samples at the same temperature, the G step's
        ahead = self._pretraining or self.d_steps_per_g_step + self.g_batches * (self.g_temperature == t)
        return self.samples(n, t, ahead)

    def discriminator_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        return self.bce_discriminator_update(real, self.d_fakes(len(real)))


@dataclass(frozen=True)
class RelaxedConfig:
    """Settings every relaxed objective has: the Gumbel-softmax schedule and Adam."""

    beta_max: float = param(100.0, ge=1.0, help="final inverse temperature of the Gumbel-softmax")
    anneal: Literal["exp", "linear", "constant"] = param("exp")
    g_lr: float = param(1e-4, gt=0.0)
    d_lr: float = param(1e-4, gt=0.0)
    adam_beta1: float = param(0.9, ge=0.0, lt=1.0)
    adam_beta2: float = param(0.999, ge=0.0, lt=1.0)
    d_input: Literal["soft", "straight_through"] = param(
        "soft", help="what D sees of a fake: soft (the Gumbel-softmax rows) | straight_through "
                     "(their argmax one-hots; G's gradient still flows through the soft rows)")
    mle_weight: float = param(0.0, ge=0.0, help="+ weight * the MLE loss on the G step's real "
                                                "batch (0: off, the papers' pure adversarial G)")


def straight_through(soft: torch.Tensor, hard: torch.Tensor) -> torch.Tensor:
    """One-hot rows of `hard` (B, W) in the forward pass, the gradient of `soft` (B, W, V) in the
    backward pass: D sees discrete fakes, like the reals, and G still gets a gradient."""
    hot = F.one_hot(hard.long(), soft.shape[-1]).to(soft)
    return hot + (soft - soft.detach())  # exactly the one-hots forward (x - x == 0)


#: what every relaxed objective logs besides its own keys (defect 3 of issue 15: how much of D's
#: accuracy comes from the softness of the fakes alone)
RELAXED_LOG_KEYS = ("d_rank_soft", "d_rank_hard")


class RelaxedObjective(Objective):
    """Objectives that train G through Gumbel-softmax relaxed sequences (bce, wgan-gp, ...).

    The steps are shared; a loss is its two hooks :meth:`d_loss` and :meth:`g_loss` over D's raw
    scores. The inverse temperature follows the section's ``beta_max``/``anneal`` schedule, so
    the section's config must have those two keys. ``mle_weight`` > 0 adds the MLE loss of the G
    step's real batch to G's loss (the teacher-forcing term ColdGAN keeps, and Li et al., 2017,
    interleave with their adversarial updates); the RelGAN paper's G has none (0, the default).
    """

    #: whether :meth:`g_loss` needs D's scores of the real batch (relativistic losses)
    g_uses_real: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # every relaxed loss logs the softness measurement: its plot columns come from log_keys
        super().__init_subclass__(**kwargs)
        cls.log_keys = (*cls.log_keys, *(k for k in RELAXED_LOG_KEYS if k not in cls.log_keys))

    def temperature(self, step: int) -> float:
        return anneal(self.ocfg.beta_max, self.ocfg.anneal, step, self.cfg.steps)

    def _relaxed(self, n: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(what D sees of n fakes (n, W, V), carrying gradients into G; their hard ids (n, W)).

        ``d_input: soft`` gives D the Gumbel-softmax rows, which differ from one-hot reals by their
        softness alone while beta is small; ``straight_through`` gives it the argmax one-hots."""
        soft, hard = self.G.sample_relaxed(n, self.max_len, self.temperature(step), self.rng)
        if getattr(self.ocfg, "d_input", "soft") == "straight_through":
            soft = straight_through(soft, hard)
        return soft, hard

    def _fake(self, n: int, step: int) -> torch.Tensor:
        """Fake rows (n, W, V) for D, carrying gradients into G (see :meth:`_relaxed`)."""
        return self._relaxed(n, step)[0]

    def d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor, real: torch.Tensor,
               fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's loss from its scores of real ids and soft fakes (and those inputs), plus logs."""
        raise NotImplementedError

    def g_loss(self, d_fake: torch.Tensor, d_real: torch.Tensor | None) -> torch.Tensor:
        """G's loss from D's scores of soft fakes (and of reals when :attr:`g_uses_real`)."""
        raise NotImplementedError

    def discriminator_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            fake, hard = self._relaxed(len(real), step)
        real = real.to(self.device)
        d_real = self.D(real)  # ids: the same score as one-hots, without the V-wide matmul
        d_fake = self.D(fake)
        loss, logs = self.d_loss(d_real, d_fake, real, fake)
        softness = softness_ranks(self.D, d_real, d_fake, hard)
        norm = self.update(self.d_opt, self.D, loss, "discriminator loss")
        return {"d_loss": loss.detach(), **logs, **softness, "d_grad_norm": norm}

    def generator_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        with frozen(self.D):
            d_real = None
            if self.g_uses_real:
                with torch.no_grad():
                    d_real = self.D(real.to(self.device))
            # the MLE term anchors G to the data (RSGAN's relaxed G shortened COCO's sentences)
            loss = self.with_mle_term(self.g_loss(self.D(self._fake(len(real), step)), d_real),
                                      real)
            norm = self.update(self.g_opt, self.G, loss, "generator loss")
        return {"g_loss": loss.detach(), "g_grad_norm": norm}


def softness_ranks(discriminator: nn.Module, d_real: torch.Tensor, d_fake: torch.Tensor,
                   hard: torch.Tensor) -> dict[str, torch.Tensor]:
    """How often D scores the real row of a (real, fake) pair above the fake, for the fakes as D
    saw them (``d_rank_soft``) and for the same samples hardened to their argmax one-hots
    (``d_rank_hard``, scored with D's current weights, no gradient). Pairwise ranks work for any
    loss's scale (logits, critic values). ``d_rank_soft - d_rank_hard`` is the part of D's
    accuracy that comes from the fakes' softness alone: D cannot use it on discrete text."""
    dev = d_real.device
    # its own copy of the RNG streams (D's dropout): measuring does not change the training run
    with torch.no_grad(), torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        d_hard = discriminator(hard)
    d_real = d_real.detach()
    return {"d_rank_soft": (d_real > d_fake.detach()).float().mean(),
            "d_rank_hard": (d_real > d_hard).float().mean()}


class frozen:
    """Context manager: no parameter gradients for `module` (D during a G step: saves the work of
    accumulating grads that would be thrown away)."""

    def __init__(self, module: nn.Module):
        self.module = module
        self.flags: list[bool] = []

    def __enter__(self) -> nn.Module:
        self.flags = [p.requires_grad for p in self.module.parameters()]
        for p in self.module.parameters():
            p.requires_grad_(False)
        return self.module

    def __exit__(self, *exc: object) -> None:
        for p, flag in zip(self.module.parameters(), self.flags):
            p.requires_grad_(flag)


class eval_mode:
    """Context manager: `module` in eval mode (no dropout), restored afterwards."""

    def __init__(self, module: nn.Module):
        self.module = module
        self.was_training = module.training

    def __enter__(self) -> nn.Module:
        self.module.eval()
        return self.module

    def __exit__(self, *exc: object) -> None:
        self.module.train(self.was_training)
