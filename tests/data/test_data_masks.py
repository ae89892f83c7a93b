"""``data masks`` end to end with small ONNX models built here, whose outputs are known: a YOLO-seg and a Mask R-CNN
layout, the written masks and the §1.1 filter's decisions checked exactly; a model of another layout, an
unreadable photo and photos without the class each give one line."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from backend.train import main
from dataformat import load_collection
from training.data.masks import COCO80, ModelLayoutError, NoInstanceError, make_masks

from .upstream_fixtures import ellipse

H, W, S = 480, 640, 640          # photo 640 x 480, YOLO input 640 (letterbox: scale 1, 80 rows of grey above)


def constant_model(path, input_shape, outputs: dict[str, np.ndarray], input_name="images"):
    """An ONNX model whose outputs are the given arrays, whatever the input (read, times 0, so it is used)."""
    nodes = [helper.make_node("ReduceSum", [input_name], ["total"], keepdims=0),
             helper.make_node("Mul", ["total", "zero"], ["nothing"])]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    outs = []
    for name, array in outputs.items():
        inits.append(numpy_helper.from_array(array, f"{name}_value"))
        if array.dtype == np.float32:
            nodes.append(helper.make_node("Add", [f"{name}_value", "nothing"], [name]))
        else:
            nodes.append(helper.make_node("Identity", [f"{name}_value"], [name]))
        outs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(array.dtype), array.shape))
    graph = helper.make_graph(nodes, "known", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT,
                                                                             input_shape)], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def yolo_outputs() -> tuple[dict[str, np.ndarray], dict]:
    """Anchors (photo boxes x1, x2, y1, y2; the input adds 80 to y): see the expected decisions below."""
    car, person = COCO80.index("car"), COCO80.index("person")
    anchors = [  # (class, score, x1, x2, y1, y2 in photo pixels, prototype)
        (car, 0.95, 100, 300, 100, 260, 1),    # kept; prototype 1 keeps only columns < 200
        (car, 0.93, 105, 305, 100, 260, 0),    # IoU 0.95 with the first: removed by NMS
        (car, 0.95, 400, 440, 50, 90, 0),      # 40 x 40: too small
        (car, 0.92, 0, 150, 300, 420, 0),      # at the left border: truncated
        (person, 0.96, 450, 600, 150, 400, 0),
        (car, 0.91, 330, 452, 150, 330, 0),    # touches the person: colliding
        (car, 0.50, 200, 400, 300, 400, 0),    # below the threshold: ignored
    ]
    preds = np.zeros((1, 4 + 80 + 32, len(anchors)), np.float32)
    for a, (cls, score, x1, x2, y1, y2, proto) in enumerate(anchors):
        preds[0, :4, a] = [(x1 + x2) / 2, (y1 + y2) / 2 + 80, x2 - x1, y2 - y1]
        preds[0, 4 + cls, a] = score
        preds[0, 84 + proto, a] = 1.0
    protos = np.zeros((1, 32, S // 4, S // 4), np.float32)
    protos[0, 0] = 20.0
    protos[0, 1] = -10.0
    protos[0, 1, :, :50] = 20.0
    expected = np.zeros((H, W), bool)
    expected[100:260, 100:200] = True
    return {"output0": preds, "output1": protos}, {"mask": expected}


def maskrcnn_outputs(labels_scores_masks) -> dict[str, np.ndarray]:
    n = len(labels_scores_masks)
    masks = np.zeros((n, 1, H, W), np.float32)
    boxes = np.zeros((n, 4), np.float32)
    for k, (_, _, mask) in enumerate(labels_scores_masks):
        masks[k, 0] = mask
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        boxes[k] = [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]
    return {"boxes": boxes, "labels": np.array([x[0] for x in labels_scores_masks], np.int64),
            "scores": np.array([x[1] for x in labels_scores_masks], np.float32), "masks": masks}


def rectangle(x1, x2, y1, y2):
    mask = np.zeros((H, W), np.float32)
    mask[y1:y2, x1:x2] = 1
    return mask


@pytest.fixture()
def photos(tmp_path):
    folder = tmp_path / "photos"
    (folder / "day2").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(folder / "street.jpg")
    (folder / "day2" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return folder


def test_yolo_seg_model_end_to_end(photos, tmp_path, capsys):
    outputs, expected = yolo_outputs()
    model = constant_model(tmp_path / "yolo.onnx", [1, 3, S, S], outputs)
    out = tmp_path / "mine"
    code = main(["data", "masks", "--images", str(photos), "--model", str(model), "--class", "car",
                 "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "broken.jpg: not a readable image" in captured.out and "; skipped" in captured.out
    assert "layout yolo-seg" in captured.out
    collection = load_collection(out)
    assert [r.id for r in collection.records] == ["street#0"]
    record = collection.records[0]
    assert np.array_equal(record.load_mask(), expected["mask"])
    assert record.class_index == 3 and record.class_name == "car" and record.image_size == (H, W)
    report = json.loads((out / "skip_report.json").read_text())
    assert report["kept"] == 1 and report["skipped"] == {"too_small": 1, "truncated": 1, "colliding": 1,
                                                         "unreadable_image": 1}
    assert report["seen"] == {"car": 4, "person": 1} and report["layout"] == "yolo-seg"
    assert (out / "contact_sheet.png").is_file()


def test_maskrcnn_model(photos, tmp_path):
    car = ellipse(H, W, 200, 200, 120, 70).astype(np.float32)
    outputs = maskrcnn_outputs([
        (3, 0.99, car),                                   # kept, its mask exactly
        (2, 0.95, rectangle(500, 600, 100, 300)),         # a bicycle: not ours, but it counts for collisions
        (3, 0.97, rectangle(420, 501, 150, 300)),         # touches the bicycle: colliding
        (8, 0.30, rectangle(0, 50, 0, 50)),               # below the threshold
    ])
    model = constant_model(tmp_path / "maskrcnn.onnx", [3, "height", "width"], outputs, input_name="image")
    result = make_masks(photos, model, "car", tmp_path / "out")
    assert result.layout == "maskrcnn" and result.report.kept == 1
    assert result.report.skipped == {"colliding": 1, "unreadable_image": 1}
    collection = load_collection(tmp_path / "out")
    assert np.array_equal(collection.records[0].load_mask(), car > 0.5)


def test_no_instance_of_the_class_is_said_plainly(photos, tmp_path, capsys):
    model = constant_model(tmp_path / "people.onnx", [3, "height", "width"],
                           maskrcnn_outputs([(1, 0.98, rectangle(100, 300, 100, 400))]), input_name="image")
    code = main(["data", "masks", "--images", str(photos), "--model", str(model), "--class", "car",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert "no car found in 2 photo(s) by people.onnx at score >= 0.9 (the model saw: person x1)" in err
    with pytest.raises(NoInstanceError, match=r"1 car instance\(s\) found in 2 photo\(s\), all rejected by the "
                                              r"§1.1 filter \(too_small 1"):
        small = constant_model(tmp_path / "small.onnx", [3, "height", "width"],
                               maskrcnn_outputs([(3, 0.98, rectangle(100, 150, 100, 150))]), input_name="image")
        make_masks(photos, small, "car", tmp_path / "out2")
    with pytest.raises(ValueError, match="not a COCO class"):
        make_masks(photos, small, "spaceship", tmp_path / "out3")


def test_a_model_of_another_layout_is_one_line(photos, tmp_path, capsys):
    model = constant_model(tmp_path / "classifier.onnx", [1, 3, 64, 64],
                           {"logits": np.zeros((1, 10), np.float32)})
    code = main(["data", "masks", "--images", str(photos), "--model", str(model), "--class", "car",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "classifier.onnx: inputs [images (1, 3, 64, 64)] and outputs [logits (1, 10)] match neither layout" in err
    assert "accepted: yolo-seg" in err
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelLayoutError, match="junk.onnx: onnxruntime cannot load it"):
        make_masks(photos, tmp_path / "junk.onnx", "car", tmp_path / "out")
