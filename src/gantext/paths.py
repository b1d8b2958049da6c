"""Every path the pipeline reads or writes, resolved once from the repository root.

Stages run with the repository root as working directory (dvc.yaml's wdir); tests build a
:class:`Paths` on a temporary copy. Keep this in sync with dvc.yaml's deps/outs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    root: Path

    # inputs / config
    @property
    def params(self) -> Path:
        return self.root / "params.yaml"

    # ingest
    @property
    def interim(self) -> Path:
        return self.root / "data" / "interim"

    def split_text(self, split: str) -> Path:
        """data/interim/{train,valid,test}.txt: one cleaned sentence a line."""
        return self.interim / f"{split}.txt"

    @property
    def rejects(self) -> Path:
        return self.interim / "rejects.jsonl"

    # tokenize
    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed"

    @property
    def vocab(self) -> Path:
        return self.processed / "vocab.json"

    def encoded(self, split: str) -> Path:
        """data/processed/{split}.npy: int32 array (sentences, max_len + 1)."""
        return self.processed / f"{split}.npy"

    # models
    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def pretrain_dir(self) -> Path:
        return self.models / "pretrain"

    @property
    def pretrain_generator(self) -> Path:
        return self.pretrain_dir / "generator.pt"

    @property
    def adversarial_dir(self) -> Path:
        return self.models / "adversarial"

    @property
    def adversarial_generator(self) -> Path:
        return self.adversarial_dir / "generator.pt"

    @property
    def adversarial_discriminator(self) -> Path:
        return self.adversarial_dir / "discriminator.pt"

    @property
    def adversarial_control(self) -> Path:
        """The in-run control (``adversarial.control``): the MLE generator trained on for the
        same generator updates with the MLE loss and no D (objective ``mle-continued``)."""
        return self.adversarial_dir / "control.pt"

    @property
    def fid_extractor(self) -> Path:
        """Frozen FID feature extractor, fitted on the train split only (an evaluate output)."""
        return self.models / "fid" / "extractor.npz"

    # resumable training state lives outside DVC outs (DVC deletes outs before a stage runs)
    @property
    def state(self) -> Path:
        return self.root / ".gantext" / "state"

    def resume_file(self, stage: str) -> Path:
        return self.state / f"{stage}.resume.pt"

    # metrics
    @property
    def metrics(self) -> Path:
        return self.root / "metrics"

    def metrics_json(self, stage: str) -> Path:
        return self.metrics / f"{stage}.json"

    @property
    def plots(self) -> Path:
        return self.metrics / "plots"

    def plot_csv(self, name: str) -> Path:
        return self.plots / f"{name}.csv"

    @property
    def samples_dir(self) -> Path:
        return self.metrics / "samples"

    @property
    def lineage(self) -> Path:
        return self.metrics / "lineage.md"


def repo_paths(root: str | Path | None = None) -> Paths:
    """Paths under `root` (default: the current working directory, which DVC sets to the repo)."""
    return Paths(Path(root).resolve() if root is not None else Path.cwd().resolve())
