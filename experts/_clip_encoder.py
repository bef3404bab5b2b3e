"""CLIP's processor and model on their device, giving unit-length embeddings (the clip and
video_classify experts share it)."""

from __future__ import annotations

from typing import Any

from experts._loading import load_model
from loading import pick_device, pick_dtype

__all__ = ["ClipEncoder"]


class ClipEncoder:
    """Loads ``model`` (a hub id or a local directory) on ``device`` in ``dtype`` for ``expert``."""

    def __init__(self, model: str, *, device: str, dtype: str, expert: str) -> None:
        from transformers import AutoProcessor, CLIPModel

        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self.processor = load_model(AutoProcessor.from_pretrained, model, expert=expert)
        loaded = load_model(CLIPModel.from_pretrained, model, expert=expert, dtype=self.dtype)
        self.model = loaded.to(self.device).eval()
        self.scale = float(self.model.logit_scale.detach().exp())
        """CLIP's learned temperature: similarities times this are the logits."""

    def embed(self, images: list[Any], texts: list[str]) -> tuple[Any, Any]:
        """Unit-length image and text embeddings (CPU float32), one forward pass for each."""
        import torch

        pixels = self.processor(images=images, return_tensors="pt")["pixel_values"]
        tokens = self.processor(text=texts, padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            image_out = self.model.get_image_features(pixel_values=pixels.to(self.device, self.dtype))
            text_out = self.model.get_text_features(
                input_ids=tokens["input_ids"].to(self.device),
                attention_mask=tokens["attention_mask"].to(self.device),
            )
        image_emb = torch.nn.functional.normalize(image_out.pooler_output.float().cpu(), dim=-1)
        text_emb = torch.nn.functional.normalize(text_out.pooler_output.float().cpu(), dim=-1)
        return image_emb, text_emb
