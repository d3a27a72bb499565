"""VideoMAE (transformers' ``VideoMAEForVideoClassification``) behind the registry interface.

Two ways to build it:

* ``pretrained``: a local directory in the Hugging Face hub layout (``config.json`` +
  weights, as written by ``save_pretrained``), read offline; the classifier is replaced when
  its class count differs, and the clip size overrides the checkpoint's (the position
  embeddings are fixed sinusoids, so no weight depends on it);
* otherwise a fresh model from a small ``VideoMAEConfig`` (the defaults below fit 8-frame
  32x32 clips: 64 tokens of 2x8x8 tubelets).

Every other option is a ``VideoMAEConfig`` field (``hidden_size``, ``num_hidden_layers``,
``patch_size``, ``tubelet_size``, dropouts, ...).
"""

from __future__ import annotations

from . import VideoModel, register

SMALL_CONFIG = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "patch_size": 8,
    "tubelet_size": 2,
}


@register("videomae")
class VideoMAE(VideoModel):
    """Clips [B, T, C, H, W] in [0, 1], normalised with the ImageNet statistics (as VideoMAE's
    own processor); ``features`` is the mean-pooled, normalised token embedding the classifier
    reads (the first token when the config disables mean pooling)."""

    def __init__(self, num_classes, clip_shape, pretrained: str | None = None, **config_options):
        super().__init__()
        # imported here: only this model needs transformers, which is slow to import
        from transformers import VideoMAEConfig, VideoMAEForVideoClassification

        frames, channels, height, width = clip_shape
        labels = {i: f"class{i}" for i in range(num_classes)}  # sets num_labels
        sizes = {"id2label": labels, "num_frames": frames, "num_channels": channels}
        sizes["image_size"] = height if height == width else (height, width)
        if pretrained:
            self.net = VideoMAEForVideoClassification.from_pretrained(
                pretrained,
                local_files_only=True,
                ignore_mismatched_sizes=True,  # a new classifier for this dataset's classes
                **sizes,
                **config_options,
            )
        else:
            config = VideoMAEConfig(**{**SMALL_CONFIG, **config_options, **sizes})
            self.net = VideoMAEForVideoClassification(config)
        config = self.net.config
        patch, tubelet = config.patch_size, config.tubelet_size
        if height % patch or width % patch or frames % tubelet:
            raise ValueError(
                f"videomae: clips of {frames}x{height}x{width} do not split into "
                f"{tubelet}x{patch}x{patch} tubelets; set models.videomae patch_size / tubelet_size"
            )

    def embed(self, x):
        tokens = self.net.videomae(x).last_hidden_state
        if self.net.fc_norm is not None:
            return self.net.fc_norm(tokens.mean(1))
        return tokens[:, 0]

    def head(self, h):
        return self.net.classifier(h)
