"""``data masks``: instance masks for your own photos from a COCO instance-segmentation model in ONNX form, run with
onnxruntime, filtered as in §1.1, written as a collection (docs/datasets.md, "Your own photos").

Accepted model layouts (``--layout auto`` tells them apart by their outputs):

``yolo-seg`` (an Ultralytics YOLO segmentation model, ``yolo export model=yolov8x-seg.pt format=onnx``):
    input   (1, 3, S, S) float32, RGB in [0, 1], the photo letterboxed: scaled by r = min(S / H, S / W) to
            (round(H r), round(W r)) (bilinear) and centred on an S x S canvas of grey 114/255
    output0 (1, 4 + 80 + M, A)   per anchor: box centre x, centre y, width, height in input pixels; the 80 COCO
                                  class scores (in [0, 1]); M mask coefficients
    output1 (1, M, S/4, S/4)     mask prototypes
    An instance's class is its best score; detections at or above the threshold go through per-class NMS (IoU
    0.7); its mask is sigmoid(coefficients · prototypes), upsampled bilinearly to S x S, zero outside its box (pixel
    columns x1 <= i < x2, rows y1 <= j < y2, as Ultralytics crops),
    cut to the letterboxed photo, resized to H x W and thresholded at 0.5.

``maskrcnn`` (torchvision's Mask R-CNN, ``torch.onnx.export(maskrcnn_resnet50_fpn_v2(weights=...), [x], ...)``):
    input   (3, H, W) float32 RGB in [0, 1] at the photo's own size (dynamic axes; a model with a fixed size gets
            the photo resized to it and its outputs scaled back)
    outputs boxes (N, 4) x1 y1 x2 y2 in input pixels, labels (N,) int64 COCO category ids (torchvision's 91-entry
            list: car = 3), scores (N,), masks (N, 1, H, W) probabilities, thresholded at 0.5

Every detection at or above the threshold (any class) takes part in the collision test; instances of ``--class``
then go through :class:`dataformat.InstanceFilter` (size, truncation, collisions).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from dataformat import report as reasons
from dataformat.classes import CLASS_INDEX, CLASS_NAMES
from dataformat.collection import write_collection
from dataformat.filtering import InstanceFilter
from dataformat.io import DataFileError, read_rgb, write_png_atomic
from dataformat.record import Record, mask_bbox
from dataformat.report import SkipReport

#: torchvision's COCO category list (index = category id; "N/A" = ids COCO does not use).
COCO91 = (
    "__background__", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "N/A", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "N/A", "backpack", "umbrella", "N/A", "N/A", "handbag",
    "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
    "skateboard", "surfboard", "tennis racket", "bottle", "N/A", "wine glass", "cup", "fork", "knife", "spoon", "bowl",
    "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
    "couch", "potted plant", "bed", "N/A", "dining table", "N/A", "N/A", "toilet", "N/A", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "N/A", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush")
#: The 80 contiguous COCO classes (YOLO's order).
COCO80 = tuple(name for name in COCO91[1:] if name != "N/A")
#: Pascal / other spellings of COCO classes.
ALIASES = {"aeroplane": "airplane", "motorbike": "motorcycle", "sofa": "couch", "tvmonitor": "tv"}
LAYOUTS = ("yolo-seg", "maskrcnn")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_THRESHOLD = 0.9
NMS_IOU = 0.7
LETTERBOX_GREY = 114 / 255
NO_INSTANCE = "no_instance"
LAYOUT_HELP = ("accepted: yolo-seg (input (1, 3, S, S); outputs (1, 4 + 80 + M, A) and (1, M, S/4, S/4)) or "
               "maskrcnn (input (3, H, W); outputs boxes (N, 4), labels (N,), scores (N,), masks (N, 1, H, W)); "
               "see docs/datasets.md")


class ModelLayoutError(ValueError):
    """The ONNX model's inputs / outputs match neither accepted layout (one line)."""


class NoInstanceError(ValueError):
    """No instance of the class was found (or every one was filtered out); the message says which and why."""


@dataclass
class Detection:
    """One detected instance: class name, score, (H, W) bool mask in the photo's pixels."""

    name: str
    score: float
    mask: np.ndarray


@dataclass
class MasksResult:
    """What ``make_masks`` wrote: the collection folder, its report, the contact sheet, what the model saw."""

    out: Path
    report: SkipReport
    layout: str
    sheet: Path | None
    seen: dict[str, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.report.summary()}\nlayout {self.layout}; collection: {self.out}; contact sheet: {self.sheet}; "
                f"skip report: {self.out / 'skip_report.json'}")


def coco_name(name: str) -> str:
    """The COCO class name of ``name`` (aliases accepted); ValueError naming the choices otherwise."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in COCO80:
        raise ValueError(f"--class {name!r} is not a COCO class; choose one of: {', '.join(COCO80)}")
    return key


class SegmentationModel:
    """An ONNX instance-segmentation model in one of :data:`LAYOUTS`, run with onnxruntime."""

    def __init__(self, path: str | os.PathLike, layout: str = "auto", device: str = "cpu") -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelLayoutError(f"{path}: model file not found")
        providers = ["CPUExecutionProvider"]
        cuda_here = "CUDAExecutionProvider" in ort.get_available_providers()
        if device == "auto-cuda" and cuda_here:
            providers.insert(0, "CUDAExecutionProvider")
        elif device == "cuda":
            if not cuda_here:
                raise ValueError("--device cuda needs onnxruntime-gpu (pip install onnxruntime-gpu); this "
                                 f"onnxruntime has {', '.join(ort.get_available_providers())}")
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise ModelLayoutError(f"{path}: onnxruntime cannot load it ({str(exc).splitlines()[0][:200]})") from None
        self.path = path
        self.inputs = self.session.get_inputs()
        self.outputs = self.session.get_outputs()
        detected = self._detect()
        if layout not in ("auto", detected or ""):
            raise ModelLayoutError(f"{path}: --layout {layout} given, but {self._describe()}; {LAYOUT_HELP}")
        if detected is None:
            raise ModelLayoutError(f"{path}: {self._describe()} match neither layout; {LAYOUT_HELP}")
        self.layout = detected
        self.threshold = DEFAULT_THRESHOLD

    def _describe(self) -> str:
        fmt = lambda items: ", ".join(f"{i.name} {tuple(i.shape)}" for i in items)  # noqa: E731
        return f"inputs [{fmt(self.inputs)}] and outputs [{fmt(self.outputs)}]"

    def _detect(self) -> str | None:
        if len(self.inputs) != 1:
            return None
        shape = list(self.inputs[0].shape)
        ranks = [len(o.shape) for o in self.outputs]
        if len(shape) == 4 and shape[1] == 3 and ranks[:2] == [3, 4] and len(ranks) >= 2:
            side = shape[2]
            if isinstance(side, int) and side == shape[3]:
                channels = self.outputs[0].shape[1]
                protos = self.outputs[1].shape[1]
                if isinstance(channels, int) and isinstance(protos, int) and channels == 4 + len(COCO80) + protos:
                    return "yolo-seg"
            return None
        if len(shape) == 3 and shape[0] == 3 and ranks == [2, 1, 1, 4]:
            return "maskrcnn"
        return None

    def __call__(self, image: np.ndarray) -> list[Detection]:
        """Detections of every class in an (H, W, 3) uint8 photo (masks at the photo's size, before thresholds)."""
        return self._yolo(image) if self.layout == "yolo-seg" else self._maskrcnn(image)

    def _run(self, array: np.ndarray) -> list[np.ndarray]:
        outputs = self.session.run(None, {self.inputs[0].name: array.astype(np.float32)})
        return [np.asarray(o) for o in outputs]

    def _yolo(self, image: np.ndarray) -> list["Detection"]:
        import torch
        import torch.nn.functional as F

        h, w = image.shape[:2]
        side = int(self.inputs[0].shape[2])
        r = min(side / h, side / w)
        nh, nw = int(round(h * r)), int(round(w * r))
        top, left = (side - nh) // 2, (side - nw) // 2
        pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255
        if (nh, nw) != (h, w):
            pixels = F.interpolate(pixels, size=(nh, nw), mode="bilinear", align_corners=False)
        canvas = torch.full((1, 3, side, side), LETTERBOX_GREY)
        canvas[:, :, top:top + nh, left:left + nw] = pixels
        preds, protos = self._run(canvas.numpy())[:2]
        n_classes = len(COCO80)
        if preds.ndim != 3 or protos.ndim != 4 or preds.shape[1] != 4 + n_classes + protos.shape[1]:
            raise ModelLayoutError(f"{self.path}: outputs {preds.shape} and {protos.shape} at run time; {LAYOUT_HELP}")
        preds = preds[0].T  # (A, 4 + 80 + M)
        scores = preds[:, 4:4 + n_classes]
        cls = scores.argmax(1)
        best = scores[np.arange(len(preds)), cls]
        keep = np.flatnonzero(best >= self.threshold)
        cx, cy, bw, bh = (preds[keep, k] for k in range(4))
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
        chosen = keep[_nms(boxes, best[keep], cls[keep], NMS_IOU)]
        out = []
        m, ph, pw = protos.shape[1:]
        for a in chosen:
            logits = torch.from_numpy(preds[a, 4 + n_classes:] @ protos[0].reshape(m, -1)).reshape(1, 1, ph, pw)
            prob = F.interpolate(torch.sigmoid(logits.float()), size=(side, side), mode="bilinear",
                                 align_corners=False)[0, 0]
            x1, y1, x2, y2 = (float(v) for v in (preds[a, 0] - preds[a, 2] / 2, preds[a, 1] - preds[a, 3] / 2,
                                                 preds[a, 0] + preds[a, 2] / 2, preds[a, 1] + preds[a, 3] / 2))
            index = torch.arange(side, dtype=torch.float32)
            inside = (index[None, :] >= x1) & (index[None, :] < x2) & (index[:, None] >= y1) & (index[:, None] < y2)
            prob = (prob * inside)[top:top + nh, left:left + nw]
            if (nh, nw) != (h, w):
                prob = F.interpolate(prob[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
            out.append(Detection(COCO80[int(cls[a])], float(best[a]), (prob > 0.5).numpy()))
        return out

    def _maskrcnn(self, image: np.ndarray) -> list["Detection"]:
        import torch
        import torch.nn.functional as F

        h, w = image.shape[:2]
        shape = list(self.inputs[0].shape)
        pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255
        fixed = isinstance(shape[1], int) and isinstance(shape[2], int) and (shape[1], shape[2]) != (h, w)
        if fixed:
            pixels = F.interpolate(pixels[None], size=(shape[1], shape[2]), mode="bilinear", align_corners=False)[0]
        outputs = self._run(pixels.numpy())
        if len(outputs) < 4:
            raise ModelLayoutError(f"{self.path}: {len(outputs)} outputs at run time; {LAYOUT_HELP}")
        boxes, labels, scores, masks = outputs[:4]
        n = len(scores)
        if boxes.shape != (n, 4) or labels.shape != (n,) or masks.ndim != 4 or masks.shape[:2] != (n, 1):
            raise ModelLayoutError(f"{self.path}: outputs {boxes.shape}, {labels.shape}, {scores.shape}, "
                                   f"{masks.shape} at run time; {LAYOUT_HELP}")
        out = []
        for k in np.flatnonzero(scores >= self.threshold):
            label = int(labels[k])
            name = COCO91[label] if 0 <= label < len(COCO91) else f"id{label}"
            prob = torch.from_numpy(masks[k, 0].astype(np.float32))
            if tuple(prob.shape) != (h, w):
                prob = F.interpolate(prob[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
            out.append(Detection(name, float(scores[k]), (prob > 0.5).numpy()))
        return out


def _nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by per-class greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    for i in order:
        ok = True
        for j in kept:
            if classes[j] != classes[i]:
                continue
            ix = max(0.0, min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]))
            iy = max(0.0, min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]))
            inter = ix * iy
            union = ((boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
                     + (boxes[j, 2] - boxes[j, 0]) * (boxes[j, 3] - boxes[j, 1]) - inter)
            if union > 0 and inter / union > iou:
                ok = False
                break
        if ok:
            kept.append(int(i))
    return np.asarray(kept, np.int64)


def list_images(folder: Path) -> list[Path]:
    """Image files in ``folder`` and one sub-folder level below it, sorted."""
    found = [p for p in folder.iterdir() if p.is_file()]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        found += [p for p in sub.iterdir() if p.is_file()]
    return sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES)


def make_masks(images: str | os.PathLike, model: str | os.PathLike, class_name: str, out: str | os.PathLike,
               threshold: float | None = None, layout: str = "auto", instance_filter: bool | InstanceFilter = True,
               device: str = "cpu", sheet_limit: int = 64,
               progress: Callable[[str], None] | None = None) -> MasksResult:
    """Segment every photo under ``images`` with ``model`` and write the kept ``class_name`` instances to ``out``.

    device: "cpu", "cuda" (onnxruntime-gpu required) or "auto-cuda" (CUDA when this onnxruntime has it, else CPU).
    Raises ModelLayoutError (the model), ValueError (the class, the folder) or NoInstanceError (nothing kept:
    the message says what the model saw instead).
    """
    say = progress or (lambda line: None)
    name = coco_name(class_name)
    images, out = Path(images), Path(out)
    if not images.is_dir():
        raise ValueError(f"{images}: no such folder of photos")
    files = list_images(images)
    if not files:
        raise ValueError(f"{images}: no image files ({', '.join(IMAGE_SUFFIXES)}) here or one folder below")
    segmenter = SegmentationModel(model, layout, device)
    segmenter.threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    rules = instance_filter if isinstance(instance_filter, InstanceFilter) else (
        InstanceFilter() if instance_filter else InstanceFilter(min_pixels=0, border_margin=0,
                                                                collision_max_coverage=None))
    report = SkipReport(source=f"masks {images.name}")
    seen: dict[str, int] = {}
    records: list[Record] = []
    lines: list[str] = []
    (out / "masks").mkdir(parents=True, exist_ok=True)
    for path in files:
        relative = path.relative_to(images).with_suffix("").as_posix()
        try:
            image = read_rgb(path)
        except DataFileError as exc:
            report.total += 1
            report.skip(reasons.UNREADABLE_IMAGE, relative, str(exc))
            lines.append(f"{exc}; skipped")
            say(lines[-1])
            continue
        detections = [d for d in segmenter(image) if d.mask.any()]
        for d in detections:
            seen[d.name] = seen.get(d.name, 0) + 1
        ours = [k for k, d in enumerate(detections) if d.name == name]
        if not ours:
            report.total += 1
            report.skip(NO_INSTANCE, relative, f"no {name} at score >= {segmenter.threshold}")
            continue
        for number, k in enumerate(ours):
            report.total += 1
            rid = f"{relative}#{number}"
            mask = detections[k].mask
            why = rules.reject_reason(mask, [d.mask for j, d in enumerate(detections) if j != k])
            if why is not None:
                report.skip(why, rid, f"{int(mask.sum())} px")
                continue
            mask_path = out / "masks" / f"{relative.replace('/', '__')}_{number}.png"
            write_png_atomic(mask_path, mask.astype(np.uint8) * 255)
            in_table = name in CLASS_INDEX
            records.append(Record(id=rid, image_path=path, image_size=image.shape[:2], bbox=mask_bbox(mask),
                                  class_index=CLASS_INDEX[name] if in_table else 0, class_name=name, source="photos",
                                  mask_path=mask_path, extra={"score": round(detections[k].score, 4)}))
            report.kept += 1
    result = MasksResult(out, report, segmenter.layout, None, seen, lines)
    (out / "skip_report.json").write_text(json.dumps({**report.to_json(), "model": str(Path(model)),
                                                      "layout": segmenter.layout, "class": name,
                                                      "threshold": segmenter.threshold, "seen": seen,
                                                      "lines": lines}, indent=2), encoding="utf-8")
    if not records:
        others = ", ".join(f"{k} x{v}" for k, v in sorted(seen.items(), key=lambda kv: -kv[1])) or "nothing"
        found = seen.get(name, 0)
        if found:
            rejected = ", ".join(f"{r} {c}" for r, c in sorted(report.skipped.items()) if r != NO_INSTANCE)
            raise NoInstanceError(f"{found} {name} instance(s) found in {len(files)} photo(s), all rejected by the "
                                  f"§1.1 filter ({rejected}); use larger, uncropped photos or pass --no_filter")
        raise NoInstanceError(f"no {name} found in {len(files)} photo(s) by {Path(model).name} at score >= "
                              f"{segmenter.threshold} (the model saw: {others}); check --class or lower --threshold")
    class_names = list(CLASS_NAMES) if name in CLASS_INDEX else [name]
    write_collection(out, records, class_names, None, name=out.name, source={
        "kind": "photos", "images": str(images.resolve()), "model": str(Path(model).resolve()),
        "layout": segmenter.layout, "threshold": segmenter.threshold}, import_report=report.to_json())
    from .contact_sheet import contact_sheet

    result.sheet = contact_sheet(records[:sheet_limit], out / "contact_sheet.png")
    report.log()
    return result
