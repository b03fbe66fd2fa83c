"""Detection decoders composed on CNN and ViT backbones, and the detection tasks, on tiny synthetic chips."""

from __future__ import annotations

import subprocess
import sys

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

import geofm
from geofm.errors import ConfigError, DataError, IncompatibleComponentsError
from geofm_detection.tasks import DetectionTask, InstanceSegmentationTask

BANDS = ("BLUE", "GREEN", "RED", "NIR_BROAD")
SIZE = 64
SMALL = {"fpn_channels": 64, "detections_per_image": 20}
DECODERS = {
    "faster_rcnn": "detection",
    "retinanet": "detection",
    "fcos": "detection",
    "mask_rcnn": "instance_segmentation",
}
CLASS_NAMES = ("building", "tank")


def _chips(count: int = 2, size: int = SIZE, seed: int = 0, objects: int = 3, masks: bool = False) -> dict:
    """Noise with bright rectangles: class 0 bright in every band, class 1 bright in blue and green only."""
    generator = torch.Generator().manual_seed(seed)
    image = 0.3 * torch.randn(count, len(BANDS), size, size, generator=generator)
    signature = (torch.tensor([2.0, 2.0, 2.0, 2.0]), torch.tensor([2.0, 2.0, -1.0, -1.0]))
    batch: dict = {"image": image, "boxes": [], "labels": [], "meta": {}}
    if masks:
        batch["masks"] = []
    for index in range(count):
        boxes, labels, chip_masks = [], [], []
        for k in range(objects):
            w, h = (int(v) for v in torch.randint(8, 20, (2,), generator=generator))
            x = int(torch.randint(0, size - w, (1,), generator=generator))
            y = int(torch.randint(0, size - h, (1,), generator=generator))
            image[index, :, y : y + h, x : x + w] += signature[k % 2][:, None, None]
            boxes.append([x, y, x + w, y + h])
            labels.append(k % 2)
            mask = torch.zeros(size, size, dtype=torch.uint8)
            mask[y : y + h, x : x + w] = 1
            chip_masks.append(mask)
        batch["boxes"].append(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
        batch["labels"].append(torch.tensor(labels, dtype=torch.int64))
        if masks:
            batch["masks"].append(torch.stack(chip_masks) if chip_masks else torch.zeros(0, size, size, torch.uint8))
    return batch


def _targets(batch: dict) -> list[dict]:
    keys = [k for k in ("boxes", "labels", "masks") if k in batch]
    return [{k: batch[k][i] for k in keys} for i in range(len(batch["image"]))]


def _model(backbone: str, decoder: str, **options):
    return geofm.build_model(
        backbone,
        decoder,
        task=DECODERS[decoder],
        num_classes=2,
        weights="none",
        bands=BANDS,
        num_frames=1,
        decoder_options={**SMALL, **options},
    )


def _check_detections(detections: list, count: int, masks: bool, size: tuple[int, int] = (SIZE, SIZE)) -> None:
    assert isinstance(detections, list) and len(detections) == count
    for detection in detections:
        n = len(detection["boxes"])
        assert detection["boxes"].shape == (n, 4) and detection["boxes"].dtype == torch.float32
        assert detection["labels"].shape == (n,) and detection["labels"].dtype == torch.int64
        assert detection["scores"].shape == (n,)
        assert n <= SMALL["detections_per_image"]
        if n:
            assert int(detection["labels"].min()) >= 0 and int(detection["labels"].max()) <= 1
            assert float(detection["boxes"][:, 2].max()) <= size[1] and float(detection["boxes"][:, 3].max()) <= size[0]
        if masks:
            assert detection["masks"].shape == (n, 1, *size)
            assert n == 0 or 0.0 <= float(detection["masks"].min()) <= float(detection["masks"].max()) <= 1.0
        else:
            assert "masks" not in detection


@pytest.mark.parametrize("backbone", ["timm_resnet18", "tiny_vit", "prithvi_eo_v2_tiny_tl"])
@pytest.mark.parametrize("decoder", list(DECODERS))
def test_decoder_trains_one_step_and_detects(backbone, decoder):
    torch.manual_seed(0)
    masks = DECODERS[decoder] == "instance_segmentation"
    model = _model(backbone, decoder)
    assert model.decoder.num_classes == 2
    batch = _chips(masks=masks)
    # the second chip has no object at all: torchvision's losses must still be defined
    for key in ("boxes", "labels", "masks") if masks else ("boxes", "labels"):
        batch[key][1] = batch[key][1][:0]
    model.train()
    losses = model(batch["image"], _targets(batch))
    assert losses and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert any(g is not None and float(g.abs().sum()) > 0 for g in grads)

    model.eval()
    with torch.no_grad():
        detections = model(batch["image"][:, :, :60, :56])  # a size that needs padding
        alone = model(batch["image"][:1])  # one image: the top level is 1 x 1, normalised alone
    _check_detections(detections, 2, masks, size=(60, 56))
    _check_detections(alone, 1, masks)


def test_neck_plan_gives_the_decoder_a_pyramid():
    model = _model("tiny_vit", "faster_rcnn")
    assert [n["name"] for n in model.neck_plan] == ["tokens_to_map", "interpolate_pyramid"]
    backbone = model.decoder.detector.backbone
    assert backbone.out_channels == SMALL["fpn_channels"] and backbone.names == ["0", "1", "2", "3"]


@pytest.mark.parametrize("decoder", ["faster_rcnn", "retinanet"])
def test_anchors_follow_the_reductions(decoder):
    model = _model("timm_resnet18", decoder)
    anchors = model.decoder.detector.rpn.anchor_generator if decoder == "faster_rcnn" else None
    anchors = anchors or model.decoder.detector.anchor_generator
    first = [sizes[0] for sizes in anchors.sizes]
    assert first == [16, 32, 64, 128, 256]  # 4 x reductions 4, 8, 16, 32 and the pooled level 64
    assert len(anchors.sizes[0]) == (3 if decoder == "retinanet" else 1)


def test_untrained_fcos_boxes_start_open_on_every_side():
    # torchvision's init starts the box sides at relu(~0): on random CNN features a side could start dead
    torch.manual_seed(0)
    model = _model("timm_resnet18", "fcos", min_score=0.0, detections_per_image=1000).eval()
    with torch.no_grad():
        (detection,) = model(_chips(count=1)["image"])
    sizes = detection["boxes"][:, 2:] - detection["boxes"][:, :2]
    # about one stride (4 px) on each side, less where clipped at the border; with dead sides, most are < 2 px
    assert len(sizes) > 100 and float(sizes.min()) >= 2.0


def test_all_empty_targets_train():
    model = _model("timm_resnet18", "faster_rcnn").train()
    batch = _chips(objects=0)
    losses = model(batch["image"], _targets(batch))
    assert all(torch.isfinite(v) for v in losses.values())


def test_bad_targets_and_options_are_refused():
    model = _model("timm_resnet18", "faster_rcnn").train()
    batch = _chips()
    batch["labels"][0] = batch["labels"][0] + 2  # class 2 of 2 classes
    with pytest.raises(DataError, match=r"class indices 0\.\.1"):
        model(batch["image"], _targets(batch))
    with pytest.raises(DataError, match="needs targets"):
        model(batch["image"])
    with pytest.raises(ConfigError, match="anchor_sizes has 2 entries"):
        _model("timm_resnet18", "faster_rcnn", anchor_sizes=[16, 32])
    for channels in (48, 32):
        with pytest.raises(ConfigError, match="multiple of 32 and at least 64"):
            _model("timm_resnet18", "fcos", fpn_channels=channels)
    with pytest.raises(IncompatibleComponentsError, match="suits detection, not instance_segmentation"):
        geofm.build_model("timm_resnet18", "faster_rcnn", task="instance_segmentation", weights="none", bands=BANDS)


@pytest.mark.slow
def test_faster_rcnn_learns_rectangles():
    torch.manual_seed(0)
    model = _model("timm_resnet18", "faster_rcnn", fpn_channels=64)
    batch = _chips(count=2, seed=1)
    targets = _targets(batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    model.train()
    for _ in range(25):
        loss = sum(model(batch["image"], targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    from torchmetrics.detection import MeanAveragePrecision

    model.eval()
    metric = MeanAveragePrecision(iou_type="bbox", backend="pycocotools")
    with torch.no_grad():
        metric.update(model(batch["image"]), targets)
    assert float(metric.compute()["map_50"]) > 0.5


def _loader(batches: list[dict]) -> DataLoader:
    return DataLoader(batches, batch_size=None, collate_fn=lambda batch: batch)


@pytest.mark.parametrize("task_class", [DetectionTask, InstanceSegmentationTask])
def test_task_trains_and_logs_map_per_class(task_class, tmp_path):
    masks = task_class is InstanceSegmentationTask
    decoder = "mask_rcnn" if masks else "faster_rcnn"
    model = _model("timm_resnet18", decoder)
    task = task_class(model=model, num_classes=2, class_names=CLASS_NAMES, ignore_index=None, lr=1e-3)
    assert task.model is model and task.monitor == "val/map" and task.monitor_mode == "max"
    batch = _chips(count=2, masks=masks)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(task, train_dataloaders=_loader([batch]), val_dataloaders=_loader([batch]))
    metrics = trainer.callback_metrics
    assert torch.isfinite(metrics["train/loss"]) and "train/loss_objectness" in metrics
    for key in ("val/map", "val/map_50", "val/map_75", "val/ap/building", "val/ap/tank"):
        assert key in metrics and -1.0 <= float(metrics[key]) <= 1.0
    assert ("val/segm_map" in metrics and "val/segm_ap/tank" in metrics) == masks
    assert "val/map_per_class" not in metrics and "val/classes" not in metrics


def test_task_refuses_a_segmentation_batch():
    task = DetectionTask(model=_model("timm_resnet18", "faster_rcnn"), num_classes=2)
    with pytest.raises(DataError, match="needs the batch keys boxes, labels"):
        task.training_step({"image": torch.zeros(1, 4, SIZE, SIZE), "mask": torch.zeros(1, SIZE, SIZE)}, 0)


def test_task_drops_degenerate_boxes():
    task = InstanceSegmentationTask(model=_model("timm_resnet18", "mask_rcnn"), num_classes=2)
    batch = _chips(count=1, masks=True)
    batch["boxes"][0][0, 2] = batch["boxes"][0][0, 0]  # zero width
    (target,) = task.get_target(batch)
    assert len(target["boxes"]) == len(target["labels"]) == len(target["masks"]) == 2


def test_instance_masks_are_scored_at_the_target_size():
    task = InstanceSegmentationTask(model=_model("timm_resnet18", "mask_rcnn"), num_classes=2, class_names=CLASS_NAMES)
    box, label = torch.tensor([[2.0, 2.0, 20.0, 20.0]]), torch.ones(1, dtype=torch.int64)
    mask = torch.zeros(1, 64, 50, dtype=torch.uint8)
    mask[0, 2:20, 2:20] = 1
    probabilities = torch.zeros(1, 1, 60, 56)  # another size than the target's: padded / cropped to it
    probabilities[0, 0, 2:20, 2:20] = 0.9
    detection = {"boxes": box, "scores": torch.ones(1), "labels": label, "masks": probabilities}
    metrics = task.metrics["val"]
    task.update_metrics(metrics, [detection], [{"boxes": box, "labels": label, "masks": mask}])
    values = task.expand_metrics(metrics.compute())
    assert float(values["segm_map"]) == 1.0 and float(values["map"]) == 1.0
    assert float(values["segm_ap/tank"]) == 1.0 and float(values["ap/building"]) == -1.0  # no building anywhere
    assert all(value.ndim == 0 for value in values.values())


def test_specs_import_no_torch():
    code = "import sys, geofm_detection.model_specs; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_specs_are_registered():
    decoders = {spec.name: spec for spec in geofm.list_components("decoders")}
    for name, task in DECODERS.items():
        assert decoders[name].tasks == (task,) and decoders[name].needs_pyramid
    tasks = {spec.name: spec for spec in geofm.list_components("tasks")}
    for name in ("detection", "instance_segmentation"):
        assert tasks[name].task_type == name and tasks[name].monitor == "val/map"


@pytest.mark.parametrize("decoder", ["faster_rcnn", "mask_rcnn"])
def test_boxes_stay_inside_each_images_own_size(decoder):
    """A batch that padded a smaller chip: its boxes (and masks) stay within the chip, not the padding."""
    torch.manual_seed(0)
    model = _model("timm_resnet18", decoder, min_score=0.0).eval()
    image = _chips(count=2)["image"]
    with torch.no_grad():
        padded = model(image)
        sized = model(image, image_sizes=torch.tensor([[40, 36], [SIZE, SIZE]]))
    assert len(padded[0]["boxes"]) and len(sized[0]["boxes"])
    assert float(padded[0]["boxes"][:, 2].max()) > 36 or float(padded[0]["boxes"][:, 3].max()) > 40
    assert float(sized[0]["boxes"][:, 2].max()) <= 36 and float(sized[0]["boxes"][:, 3].max()) <= 40
    if decoder == "mask_rcnn":
        assert tuple(sized[0]["masks"].shape[-2:]) == (40, 36)
