"""OCR: read printed text in an image with RapidOCR (PP-OCR ONNX models shipped in its wheel)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from experts._geometry import enclosing_box
from experts.base import Expert, ExpertError, ImageRef, NewBoxes


class OcrInput(BaseModel):
    image: ImageRef = Field(description="the image to read text from")


class OcrOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    lines: NewBoxes = Field(
        description="one item per text line, top-to-bottom then left-to-right: "
        "{text, box: [x0, y0, x1, y1], polygon: [[x, y] x4], score}"
    )
    text: str = Field(description="the texts of all lines joined with newlines ('' when none found)")
    image_size: list[int] = Field(description="[width, height] of the image read")


class OcrSettings(Expert.Settings):
    """Options for the ``options:`` of the ocr entry in the config (unknown keys are rejected)."""

    limit_type: Literal["max", "min"] = Field(
        default="max",
        description="for detection, 'max' shrinks images whose longer side exceeds limit_side_len; "
        "'min' enlarges images whose shorter side is below it",
    )
    limit_side_len: int = Field(default=960, ge=32, le=4096, description="pixels; see limit_type")
    use_cls: bool = Field(default=False, description="run the 180-degree text orientation classifier")
    min_score: float = Field(default=0.5, ge=0.0, le=1.0, description="drop lines recognised below this")
    num_threads: int = Field(
        default=-1, ge=-1, le=256, description="onnxruntime intra-op threads per model; -1 = all cores"
    )


def _reading_order(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort lines top-to-bottom, then left-to-right among lines sharing a row."""
    rows: list[list[dict[str, Any]]] = []
    for item in sorted(items, key=lambda it: (it["box"][1] + it["box"][3]) / 2):
        centre = (item["box"][1] + item["box"][3]) / 2
        if rows:
            first = rows[-1][0]["box"]
            if first[1] <= centre <= first[3]:  # vertical centre inside the row's first line
                rows[-1].append(item)
                continue
        rows.append([item])
    return [item for row in rows for item in sorted(row, key=lambda it: it["box"][0])]


class Ocr(Expert[OcrInput, OcrOutput]):
    name = "ocr"
    description = (
        "Read printed text (signs, labels, documents, screenshots) in an image with OCR. Returns "
        "'lines': a boxes artifact with one item per text line {text, box [x0, y0, x1, y1], "
        "polygon, score}, ordered top-to-bottom then left-to-right, plus 'text' (all lines joined "
        "with newlines) and 'image_size'. Use it whenever the answer depends on written text; an "
        "image without text gives no lines. Crop first to read small text in a large image."
    )
    Input = OcrInput
    Output = OcrOutput
    Settings = OcrSettings

    settings: OcrSettings

    def setup(self) -> None:
        from rapidocr import RapidOCR

        s = self.settings
        self._engine = RapidOCR(
            params={
                "Det.limit_type": s.limit_type,
                "Det.limit_side_len": s.limit_side_len,
                "Global.use_cls": s.use_cls,
                "Global.text_score": s.min_score,
                "Global.log_level": "critical",
                "EngineConfig.onnxruntime.intra_op_num_threads": s.num_threads,
            }
        )
        # RapidOCR loads its ONNX sessions on first use; do it now rather than in the first request.
        loaders = ["_load_det_model", "_load_rec_model"] + (["_load_cls_model"] if s.use_cls else [])
        for attr in loaders:
            load = getattr(self._engine, attr, None)
            if callable(load):
                load()

    def run(self, inputs: OcrInput) -> OcrOutput:
        image = inputs.image
        height, width = image.height, image.width
        # RapidOCR treats a 3-channel ndarray as BGR (OpenCV order); ours is RGB.
        bgr = np.ascontiguousarray(image.array[:, :, ::-1])
        try:
            result = self._engine(bgr)
        except Exception as err:
            if type(err).__name__ != "ResizeImgError":
                raise
            # RapidOCR scales the longer side down to its working size; a very thin image shrinks to nothing
            raise ExpertError(
                f"{image.handle} is {width}x{height} pixels, too thin for OCR (its short side shrinks to "
                "nothing at the detection size); crop a part of it closer to square, or pad it"
            ) from err

        items: list[dict[str, Any]] = []
        boxes = getattr(result, "boxes", None)
        txts = getattr(result, "txts", None)
        scores = getattr(result, "scores", None)
        if boxes is not None and txts is not None and scores is not None:
            for polygon, text, score in zip(boxes, txts, scores, strict=True):
                text = str(text).strip()
                if not text or float(score) < self.settings.min_score:
                    continue
                points = [
                    [min(max(round(float(x)), 0), width), min(max(round(float(y)), 0), height)]
                    for x, y in polygon
                ]
                items.append(
                    {
                        "text": text,
                        "box": enclosing_box(polygon, width, height),
                        "polygon": points,
                        "score": round(float(score), 3),
                    }
                )
        items = _reading_order(items)
        return OcrOutput(
            lines=NewBoxes(items=items),
            text="\n".join(item["text"] for item in items),
            image_size=[width, height],
        )
