"""Fig. 3: inter-class relation matrices of the semantic prototypes S_p and the teacher's
S_p-hat, for a run without and a run with semantic distillation (L_sd).

Relation = cosine similarity between class prototypes (K x K), not L_sd's softmax of dot
products: cosines are bounded and comparable across runs whose prototype norms differ. S_p is
per image, so its matrix is the mean over the dumped images; S_p-hat is the batch-pooled teacher
prototype L_sd distils from (`teacher_semantic_prototypes_batch`), else the per-image mean. Each
panel's title gives the mean off-diagonal cosine: lower means better separated classes.
"""
from __future__ import annotations

import numpy as np

from ssa_bench.report.figures.inputs import Missing, class_names, sd_pair
from ssa_bench.report.figures.output import Provenance, note_panel, save_figure

NAME = "fig3_relations"


def relation_matrix(prototypes: np.ndarray) -> np.ndarray:
    """Cosine similarity of (K, D) prototypes, or the mean over images of (N, K, D)."""
    prototypes = np.asarray(prototypes, dtype=np.float64)
    if prototypes.ndim == 2:
        prototypes = prototypes[None]
    unit = prototypes / np.maximum(np.linalg.norm(prototypes, axis=-1, keepdims=True), 1e-12)
    return (unit @ unit.transpose(0, 2, 1)).mean(axis=0)


def off_diagonal_mean(matrix: np.ndarray) -> float:
    k = matrix.shape[0]
    return float(matrix[~np.eye(k, dtype=bool)].mean()) if k > 1 else float("nan")


def student_and_teacher(analysis: dict) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(relation of S_p, relation of S_p-hat or None when the run trained no teacher)."""
    if "semantic_prototypes" not in analysis:
        raise Missing("the run has no semantic prototypes (SEPA off)")
    student = relation_matrix(analysis["semantic_prototypes"])
    teacher = analysis.get("teacher_semantic_prototypes_batch")
    if teacher is None:
        teacher = analysis.get("teacher_semantic_prototypes")
    return student, (None if teacher is None else relation_matrix(teacher))


def _matrix_panel(axis, matrix: np.ndarray, title: str, names: list[str]):
    image = axis.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
    axis.set_title(f"{title}\nmean off-diag. cos {off_diagonal_mean(matrix):.3f}", fontsize=8)
    ticks = range(matrix.shape[0])
    axis.set_xticks(ticks, [n[:8] for n in names], rotation=90, fontsize=6)
    axis.set_yticks(ticks, [n[:8] for n in names], fontsize=6)
    return image


def draw_relations(rows: list[tuple[str, dict | None, str]], class_list=None):
    """rows: (row title, analysis arrays or None, note when None). Returns (Figure, notes)."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(rows), 2, figsize=(7, 3.4 * len(rows)), squeeze=False)
    notes, image = [], None
    for (title, analysis, note), (left, right) in zip(rows, axes):
        if analysis is None:
            note_panel(left, note)
            note_panel(right, note)
            notes.append(note)
            continue
        names = class_list or class_names("", analysis["prototypes"].shape[0])
        student, teacher = student_and_teacher(analysis)
        image = _matrix_panel(left, student, f"{title}: S_p", names)
        if teacher is None:
            missing = f"{title}: no S_p-hat (the run trained no teacher)"
            note_panel(right, missing)
            notes.append(missing)
        else:
            _matrix_panel(right, teacher, f"{title}: S_p-hat", names)
    if image is not None:
        figure.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, label="cosine similarity")
    figure.suptitle("Inter-class relation of semantic prototypes (cosine similarity)", fontsize=10)
    return figure, notes


def make(ctx) -> list:
    without, with_sd = sd_pair(ctx.data)
    if without is None and with_sd is None:
        raise Missing("the spec has no SSA run with SEPA (no semantic prototypes to relate)")
    provenance = Provenance(NAME, ctx.spec_name)
    rows, names = [], None
    for run, title, lacking in ((without, "without L_sd", "the spec has no SEPA run with w_sd = 0"),
                                (with_sd, "with L_sd", "the spec has no SEPA run with w_sd > 0")):
        if run is None:
            rows.append((title, None, lacking))
            continue
        try:
            analysis = run.npz("ssa_analysis")
        except Missing as missing:
            rows.append((title, None, str(missing)))
            continue
        provenance.use(run, "dump/ssa_analysis.npz")
        provenance.details[title] = {"run": run.id, "label": run.label}
        names = names or run.class_names(analysis["prototypes"].shape[0])
        rows.append((f"{title} ({run.label})", analysis, ""))
    if not provenance.runs:
        raise Missing("; ".join(note for _, _, note in rows))
    figure, notes = draw_relations(rows, names)
    provenance.notes.extend(notes)
    return save_figure(figure, ctx.out_dir, NAME, provenance)
