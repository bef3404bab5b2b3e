"""The segment expert's optional backend: the official ``segment-anything`` package.

It loads original SAM ``.pth`` checkpoints (``sam_model_registry[model_type](checkpoint=...)``)
and offers the same three steps as the transformers backend: ``embed`` images in one
image-encoder pass, ``decode`` prompts against one embedding, ``upscale`` the low-res logits.
segment-anything needs torchvision (its resize transform), which the default install lacks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from experts._sam_backend import Embedding, Prompts
from loading import ModelNotAvailable, pick_device, pick_dtype

__all__ = ["INSTALL_HINT", "OriginalSam"]

INSTALL_HINT = (
    "the segment expert's backend 'segment_anything' needs the official SAM package: "
    "pip install 'mm-reactor[sam-original]' (needs torchvision)"
)


class OriginalSam:
    """SAM from an original checkpoint via ``segment_anything`` (``SamPredictor`` for its transform)."""

    def __init__(
        self, *, checkpoint: str, model_type: str, device: str, dtype: str, mask_threshold: float
    ) -> None:
        try:
            import torch
            from segment_anything import SamPredictor, sam_model_registry
        except ImportError as err:
            raise ImportError(f"{INSTALL_HINT} ({err})") from err

        if model_type not in sam_model_registry:
            known = ", ".join(sorted(sam_model_registry))
            raise ModelNotAvailable(
                f"expert 'segment': model_type '{model_type}' is not one of {known}; "
                "use the type the checkpoint was trained as (sam_vit_b_*.pth → vit_b)"
            )
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise ModelNotAvailable(
                f"expert 'segment': SAM checkpoint {path} does not exist. Download the original "
                f"{model_type} .pth from the segment-anything repository on a machine with access, "
                "copy it to every node that runs this expert and set options.checkpoint to its path."
            )
        self.device = pick_device(device)
        # the original code is written for float32; half precision only when asked for
        self.dtype = torch.float32 if dtype == "auto" else pick_dtype(dtype, self.device)
        self.threshold = mask_threshold
        sam = sam_model_registry[model_type](checkpoint=str(path))
        self.model = sam.to(self.device, self.dtype).eval()
        self.predictor = SamPredictor(self.model)
        self._torch = torch

    def embed(self, arrays: list[np.ndarray]) -> list[Embedding]:
        """Embeddings of several images in one image-encoder pass."""
        torch = self._torch
        resized = [self.predictor.transform.apply_image(array) for array in arrays]
        with torch.inference_mode():
            batch = torch.cat(
                [
                    self.model.preprocess(
                        torch.as_tensor(r, device=self.device).permute(2, 0, 1)[None].float()
                    )
                    for r in resized
                ]
            )
            features = self.model.image_encoder(batch.to(self.dtype))
        return [Embedding(features[i : i + 1].clone(), tuple(r.shape[:2])) for i, r in enumerate(resized)]

    def decode(self, embedding: Embedding, prompts: Prompts) -> tuple[Any, Any]:
        """Low-res mask logits PxKxhxw and predicted IoUs PxK for prompts in model-input pixels."""
        torch = self._torch
        count = len(prompts.boxes) if prompts.boxes is not None else 1
        boxes = points = None
        if prompts.boxes is not None:
            boxes = torch.from_numpy(prompts.boxes).to(self.device, self.dtype)
        if prompts.points is not None:
            coords = torch.from_numpy(prompts.points)[None].expand(count, -1, -1).to(self.device, self.dtype)
            labels = torch.from_numpy(prompts.labels)[None].expand(count, -1).to(self.device)
            points = (coords, labels)
        with torch.inference_mode():
            sparse, dense = self.model.prompt_encoder(points=points, boxes=boxes, masks=None)
            logits, ious = self.model.mask_decoder(
                image_embeddings=embedding.tensor,
                image_pe=self.model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=True,
            )
        return logits, ious

    def upscale(self, logits: Any, embedding: Embedding, original_size: tuple[int, int]) -> np.ndarray:
        """PxKxhxw logits → PxKxHxW bool masks at the original image size."""
        with self._torch.inference_mode():
            masks = self.model.postprocess_masks(logits.float(), embedding.input_size, original_size)
        return (masks > self.threshold).cpu().numpy()
