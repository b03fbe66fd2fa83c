from __future__ import annotations

import math
import warnings
from typing import Any

import lightning as L
import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from geofm.errors import ConfigError, DataError
from geofm.tasks import ClassificationTask, MultiLabelClassificationTask, RegressionTask, SegmentationTask

IGNORE = 255


class TinyDenseModel(nn.Module):
    """Stand-in for ComposedModel: 1x1-conv 'backbone' (with batch norm) and 1x1-conv head (+ optional aux head)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, aux: float | None = None) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(in_channels, 8, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Conv2d(8, out_channels, 1)
        self.aux_heads = nn.ModuleDict({"aux": nn.Conv2d(8, out_channels, 1)} if aux is not None else {})
        self.aux_weights = {"aux": aux} if aux is not None else {}
        self.seen_meta: dict[str, Any] = {}

    def forward_with_aux(self, image: Tensor, **meta: Any) -> tuple[Tensor, dict[str, Tensor]]:
        self.seen_meta = meta
        features = self.backbone(image)
        return self.head(features), {name: head(features) for name, head in self.aux_heads.items()}

    def forward(self, image: Tensor, **meta: Any) -> Tensor:
        return self.forward_with_aux(image, **meta)[0]


class TinyVectorModel(nn.Module):
    """Stand-in for a classification ComposedModel: output (B, K)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 3) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(in_channels, 8, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(8, num_classes)
        self.aux_weights: dict[str, float] = {}

    def forward_with_aux(self, image: Tensor, **meta: Any) -> tuple[Tensor, dict[str, Tensor]]:
        return self.head(self.backbone(image)), {}

    def forward(self, image: Tensor, **meta: Any) -> Tensor:
        return self.forward_with_aux(image, **meta)[0]


def _meta(n: int) -> dict[str, Tensor]:
    return {
        "timestamps": torch.zeros(n, 1, dtype=torch.float64),
        "center_latlon": torch.zeros(n, 2),
        "gsd": torch.full((n,), 30.0),
    }


def _seg_samples(n: int = 16, size: int = 8, seed: int = 0) -> list[dict[str, Any]]:
    """Class = arg-max channel (learnable by a 1x1 conv); a stripe of each mask is ignored."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(n):
        image = torch.randn(3, size, size, generator=g)
        mask = image.argmax(0)
        mask[0] = IGNORE
        samples.append({"image": image, "mask": mask, "meta": {k: v[i] for k, v in _meta(n).items()}})
    return samples


def _loader(samples: list[dict[str, Any]], batch_size: int = 8) -> DataLoader:
    return DataLoader(samples, batch_size=batch_size, shuffle=False)


def _trainer(**kwargs: Any) -> L.Trainer:
    options: dict[str, Any] = {
        "max_epochs": 2,
        "accelerator": "cpu",
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    options.update(kwargs)
    return L.Trainer(**options)


def _mean_loss(task: SegmentationTask, samples: list[dict[str, Any]]) -> float:
    task.eval()
    with torch.no_grad():
        batch = next(iter(_loader(samples, batch_size=len(samples))))
        loss = task.compute_loss(task.model(batch["image"]), batch["mask"]).item()
    task.train()
    return loss


# --- segmentation ----------------------------------------------------------------------------------


def test_segmentation_trains_and_logs_metrics() -> None:
    torch.manual_seed(0)
    samples = _seg_samples()
    names = ("water", "land", "cloud shadow")
    task = SegmentationTask(TinyDenseModel(), 3, class_names=names, ignore_index=IGNORE, loss="ce+dice", lr=0.05)
    before = _mean_loss(task, samples)
    trainer = _trainer()
    trainer.fit(task, _loader(samples), _loader(samples))
    assert task.model.seen_meta.keys() == {"timestamps", "center_latlon", "gsd"}
    after = _mean_loss(task, samples)
    assert after < before
    metrics = trainer.callback_metrics
    expected = {"train/loss", "val/loss", "val/miou", "val/accuracy", "val/f1"}
    expected |= {"val/iou_water", "val/iou_land", "val/iou_cloud_shadow"}
    assert expected <= set(metrics)
    assert 0.0 <= metrics["val/miou"].item() <= 1.0
    assert {"val/miou", "train/loss"} <= set(trainer.progress_bar_metrics)
    results = trainer.test(task, _loader(samples), verbose=False)[0]
    assert {"test/loss", "test/miou", "test/accuracy", "test/f1", "test/iou_water"} <= set(results)


def test_segmentation_interface() -> None:
    task = SegmentationTask(TinyDenseModel(), 3, ignore_index=IGNORE)
    assert (task.monitor, task.monitor_mode) == ("val/miou", "max")
    assert "model" not in task.hparams
    assert task.hparams["num_classes"] == 3
    assert task.class_names == ("0", "1", "2")
    probs = task.predict_step({"image": torch.randn(2, 3, 5, 5)}, 0)
    assert probs.shape == (2, 3, 5, 5)
    assert torch.allclose(probs.sum(1), torch.ones(2, 5, 5), atol=1e-5)


def test_segmentation_metrics_ignore_pixels() -> None:
    task = SegmentationTask(TinyDenseModel(), 3, ignore_index=IGNORE)
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 6, 6)
    mask = torch.randint(0, 3, (2, 6, 6))
    mask[:, :3] = IGNORE
    altered = logits.clone()
    altered[:, :, :3] = torch.randn(2, 3, 3, 6) * 10

    def compute(output: Tensor) -> dict[str, float]:
        metrics = task.build_metrics()
        task.update_metrics(metrics, output, mask)
        return {k: v.item() for k, v in task.expand_metrics(metrics.compute()).items()}

    first, second = compute(logits), compute(altered)
    assert first.keys() == {"miou", "f1", "accuracy", "iou_0", "iou_1", "iou_2"}
    assert first == pytest.approx(second)
    perfect = compute(torch.nn.functional.one_hot(mask.clamp(max=2), 3).permute(0, 3, 1, 2).float())
    assert perfect["miou"] == pytest.approx(1.0)
    assert perfect["accuracy"] == pytest.approx(1.0)


def test_absent_class_is_left_out_of_miou() -> None:
    task = SegmentationTask(TinyDenseModel(), 3)
    metrics = task.build_metrics()
    mask = torch.tensor([[[0, 1], [1, 0]]])
    task.update_metrics(metrics, torch.nn.functional.one_hot(mask, 3).permute(0, 3, 1, 2).float(), mask)
    values = task.expand_metrics(metrics.compute())
    assert values["miou"].item() == pytest.approx(1.0)
    assert math.isnan(values["iou_2"].item())


def test_aux_loss_added_with_its_weight() -> None:
    torch.manual_seed(0)
    model = TinyDenseModel(aux=0.4)
    task = SegmentationTask(model, 3, ignore_index=IGNORE)
    batch = next(iter(_loader(_seg_samples(4))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer
        total = task.training_step(batch, 0)
    output, aux = model.forward_with_aux(batch["image"])
    main = task.compute_loss(output, batch["mask"])
    aux_loss = task.compute_loss(aux["aux"], batch["mask"])
    assert total.item() == pytest.approx(main.item() + 0.4 * aux_loss.item(), rel=1e-5)


def test_freeze_backbone_trains_only_the_head() -> None:
    torch.manual_seed(0)
    model = TinyDenseModel()
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head_before = {k: v.clone() for k, v in model.head.state_dict().items()}
    task = SegmentationTask(model, 3, ignore_index=IGNORE, freeze_backbone=True, lr=0.05)
    _trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=0).fit(task, _loader(_seg_samples()))
    for key, value in model.backbone.state_dict().items():  # weights and batch-norm statistics
        assert torch.equal(value, backbone_before[key]), key
    assert any(not torch.equal(v, head_before[k]) for k, v in model.head.state_dict().items())
    task.train()
    assert task.training and task.model.head.training and not task.model.backbone.training
    trainable = {id(p) for group in task.configure_optimizers()["optimizer"].param_groups for p in group["params"]}
    assert trainable == {id(p) for p in model.head.parameters()}


def test_freeze_backbone_needs_a_backbone() -> None:
    with pytest.raises(ConfigError, match="backbone"):
        SegmentationTask(nn.Conv2d(3, 3, 1), 3, freeze_backbone=True)


def test_scheduler_configuration() -> None:
    task = SegmentationTask(TinyDenseModel(), 3, scheduler="plateau", scheduler_patience=2, lr=0.01)
    config = task.configure_optimizers()
    assert isinstance(config["optimizer"], torch.optim.AdamW)
    assert config["optimizer"].param_groups[0]["lr"] == 0.01
    scheduler = config["lr_scheduler"]
    assert scheduler["monitor"] == "val/miou"
    assert scheduler["scheduler"].mode == "max"
    assert scheduler["scheduler"].patience == 2
    assert isinstance(SegmentationTask(TinyDenseModel(), 3, scheduler="none").configure_optimizers(), torch.optim.AdamW)
    with pytest.raises(ConfigError, match="plateau, cosine, none"):
        SegmentationTask(TinyDenseModel(), 3, scheduler="step")


@pytest.mark.parametrize(
    ("name", "kind"), [("adamw", torch.optim.AdamW), ("adam", torch.optim.Adam), ("sgd", torch.optim.SGD)]
)
def test_optimizer_choice_and_plateau_factor(name: str, kind: type) -> None:
    task = RegressionTask(TinyDenseModel(out_channels=1), 1, optimizer=name, weight_decay=0.01, scheduler_factor=0.5)
    config = task.configure_optimizers()
    assert type(config["optimizer"]) is kind and config["optimizer"].param_groups[0]["weight_decay"] == 0.01
    assert config["lr_scheduler"]["scheduler"].factor == 0.5
    if name == "sgd":
        assert config["optimizer"].param_groups[0]["momentum"] == 0.9
    with pytest.raises(ConfigError, match="adamw, adam, sgd"):
        SegmentationTask(TinyDenseModel(), 3, optimizer="lbfgs")
    with pytest.raises(ConfigError, match="scheduler_factor"):
        SegmentationTask(TinyDenseModel(), 3, scheduler_factor=2)


def test_freeze_decoder_keeps_its_weights() -> None:
    model = TinyDenseModel()
    model.decoder = model.head  # the composed model's decoder, here the head
    task = SegmentationTask(model, 3, ignore_index=IGNORE, freeze_decoder=True, lr=0.05)
    before = {k: v.clone() for k, v in model.head.state_dict().items()}
    _trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=0).fit(task, _loader(_seg_samples()))
    assert all(torch.equal(v, before[k]) for k, v in model.head.state_dict().items())
    trainable = {id(p) for group in task.configure_optimizers()["optimizer"].param_groups for p in group["params"]}
    assert trainable == {id(p) for p in model.backbone.parameters()}


def test_cosine_scheduler_runs_over_max_epochs() -> None:
    task = SegmentationTask(TinyDenseModel(), 3, ignore_index=IGNORE, scheduler="cosine", lr=0.1)
    trainer = _trainer(max_epochs=3, limit_train_batches=1, limit_val_batches=0)
    trainer.fit(task, _loader(_seg_samples(8)))
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR)
    assert scheduler.T_max == 3


def test_segmentation_rejects_bad_config_and_batches() -> None:
    with pytest.raises(ConfigError, match="class_names"):
        SegmentationTask(TinyDenseModel(), 3, class_names=("a", "b"))
    with pytest.raises(ConfigError, match="valid losses"):
        SegmentationTask(TinyDenseModel(), 3, loss="lovasz")
    task = SegmentationTask(TinyDenseModel(), 3)
    with pytest.raises(DataError, match="'mask'"):
        task.get_target({"image": torch.zeros(1, 3, 4, 4), "target": torch.zeros(1, 4, 4)})


# --- regression ------------------------------------------------------------------------------------


def _reg_samples(n: int = 16, size: int = 8, seed: int = 0) -> list[dict[str, Any]]:
    """Target = 2 * channel 0 - channel 1, with NaN (nodata) in the first row."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        image = torch.randn(3, size, size, generator=g)
        target = 2 * image[0] - image[1]
        target[0] = float("nan")
        samples.append({"image": image, "target": target})
    return samples


def test_regression_trains_and_logs_metrics() -> None:
    torch.manual_seed(0)
    samples = _reg_samples()
    task = RegressionTask(TinyDenseModel(out_channels=1), 1, loss="huber", lr=0.05)
    assert (task.monitor, task.monitor_mode) == ("val/rmse", "min")
    trainer = _trainer()
    trainer.fit(task, _loader(samples), _loader(samples))
    metrics = trainer.callback_metrics
    assert {"train/loss", "val/loss", "val/rmse", "val/mae", "val/r2"} <= set(metrics)
    assert all(math.isfinite(metrics[k].item()) for k in ("train/loss", "val/loss", "val/rmse", "val/r2"))
    values = task.predict_step({"image": torch.randn(2, 3, 4, 4)}, 0)
    assert values.shape == (2, 1, 4, 4)


def test_regression_masks_nodata() -> None:
    task = RegressionTask(TinyDenseModel(out_channels=1), 1, loss="mse", ignore_index=-9999)
    output = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[1.0, float("nan")], [-9999.0, 3.0]]])
    batch = {"target": target, "valid": torch.tensor([[[True, True], [True, False]]])}
    parsed = task.get_target(batch)
    assert parsed[1].tolist() == [[[True, False], [False, False]]]
    assert task.compute_loss(output, parsed).item() == pytest.approx(1.0)
    # without the 'valid' key: NaN and nodata masked, the rest counted; (B, 1, H, W) targets work too
    parsed = task.get_target({"target": target.unsqueeze(1)})
    assert task.compute_loss(output, parsed).item() == pytest.approx((1 + 9) / 2)
    metrics = task.build_metrics()
    task.update_metrics(metrics, output, parsed)
    assert metrics.compute()["mae"].item() == pytest.approx(2.0)
    altered = output.clone()
    altered[0, 0, 0, 1] = 1e6  # a NaN-target pixel
    assert task.compute_loss(altered, parsed).item() == pytest.approx((1 + 9) / 2)


# --- classification ------------------------------------------------------------------------------


def _cls_samples(n: int = 16, multilabel: bool = False, seed: int = 0) -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        image = torch.randn(3, 4, 4, generator=g)
        means = image.mean(dim=(1, 2))
        target = (means > 0).float() if multilabel else means.argmax()
        samples.append({"image": image, "target": target})
    return samples


def test_classification_trains_and_logs_metrics() -> None:
    torch.manual_seed(0)
    samples = _cls_samples()
    task = ClassificationTask(TinyVectorModel(), 3, class_names=("a", "b", "c"), lr=0.05)
    assert (task.monitor, task.monitor_mode) == ("val/accuracy", "max")
    trainer = _trainer()
    trainer.fit(task, _loader(samples), _loader(samples))
    assert {"train/loss", "val/loss", "val/accuracy", "val/f1"} <= set(trainer.callback_metrics)
    probs = task.predict_step({"image": torch.randn(2, 3, 4, 4)}, 0)
    assert probs.shape == (2, 3)
    assert torch.allclose(probs.sum(1), torch.ones(2), atol=1e-5)
    with pytest.raises(DataError, match="multilabel_classification"):
        task.get_target({"target": torch.ones(2, 3)})


def test_classification_class_weights_and_ignore_index() -> None:
    torch.manual_seed(0)
    logits = torch.randn(4, 3)
    target = torch.tensor([0, 1, 2, -1])
    plain = ClassificationTask(TinyVectorModel(), 3, ignore_index=-1)
    weighted = ClassificationTask(TinyVectorModel(), 3, ignore_index=-1, class_weights=[1.0, 5.0, 1.0])
    assert plain.compute_loss(logits, target).item() != pytest.approx(weighted.compute_loss(logits, target).item())
    altered = logits.clone()
    altered[3] = torch.tensor([9.0, -9.0, 0.0])
    assert plain.compute_loss(altered, target).item() == pytest.approx(plain.compute_loss(logits, target).item())


def test_multilabel_uses_bce_and_map() -> None:
    torch.manual_seed(0)
    samples = _cls_samples(multilabel=True)
    task = MultiLabelClassificationTask(TinyVectorModel(), 3, lr=0.05)
    assert (task.monitor, task.monitor_mode) == ("val/map", "max")
    assert list(task.loss_fn.terms) == ["bce"]
    trainer = _trainer()
    trainer.fit(task, _loader(samples), _loader(samples))
    metrics = trainer.callback_metrics
    assert {"train/loss", "val/loss", "val/f1", "val/map"} <= set(metrics)
    assert 0.0 <= metrics["val/map"].item() <= 1.0
    probs = task.predict_step({"image": torch.randn(2, 3, 4, 4)}, 0)
    assert probs.shape == (2, 3) and bool(((probs > 0) & (probs < 1)).all())


def test_multilabel_unknown_labels_are_skipped() -> None:
    task = MultiLabelClassificationTask(TinyVectorModel(), 2)
    logits = torch.tensor([[2.0, -1.0], [0.5, 3.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, float("nan")]])
    parsed = task.get_target({"target": target})
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 0.0])
    )
    assert task.compute_loss(logits, parsed).item() == pytest.approx(expected.item(), rel=1e-6)
    metrics = task.build_metrics()
    task.update_metrics(metrics, logits, parsed)
    assert math.isfinite(metrics.compute()["map"].item())


def test_builtin_plugin_registers_the_tasks() -> None:
    from geofm.builtin import plugin
    from geofm.specs import TaskSpec

    specs = {spec.name: spec for spec in plugin.geofm_tasks()}
    assert {"segmentation", "regression", "classification", "multilabel_classification"} <= set(specs)
    for spec in specs.values():
        assert isinstance(spec, TaskSpec)
        task_class = spec.load_factory()
        assert (task_class.monitor, task_class.monitor_mode) == (spec.monitor, spec.monitor_mode)


@pytest.mark.parametrize(
    "accelerator",
    [
        "cpu",
        pytest.param(
            "gpu",
            marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")],
        ),
    ],
)
def test_segmentation_bf16_mixed_precision(accelerator: str) -> None:
    torch.manual_seed(0)
    task = SegmentationTask(TinyDenseModel(), 3, ignore_index=IGNORE, loss="ce+dice+focal", lr=0.05)
    trainer = _trainer(accelerator=accelerator, devices=1, precision="bf16-mixed", max_epochs=1)
    trainer.fit(task, _loader(_seg_samples()), _loader(_seg_samples(8)))
    assert math.isfinite(trainer.callback_metrics["train/loss"].item())
    assert 0.0 <= trainer.callback_metrics["val/miou"].item() <= 1.0


def test_unused_options_are_reported() -> None:
    with pytest.warns(UserWarning, match="huber_delta"):
        SegmentationTask(TinyDenseModel(), 3, huber_delta=2.0)


def test_checkpoint_round_trip(tmp_path: Any) -> None:
    torch.manual_seed(0)
    task = SegmentationTask(TinyDenseModel(), 3, class_names=("a", "b", "c"), ignore_index=IGNORE, loss="ce+0.5*dice")
    trainer = _trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=0)
    trainer.fit(task, _loader(_seg_samples(8)))
    path = tmp_path / "last.ckpt"
    trainer.save_checkpoint(path)
    restored = SegmentationTask.load_from_checkpoint(path, model=TinyDenseModel())
    assert restored.class_names == ("a", "b", "c")
    assert restored.hparams["loss"] == "ce+0.5*dice"
    for key, value in task.model.state_dict().items():
        assert torch.equal(value, restored.model.state_dict()[key]), key
