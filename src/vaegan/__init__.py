"""vaegan: train a convolutional VAE on your images, then a GAN warm-started from its decoder.

    import vaegan
    model = vaegan.train(data="~/pictures/comics", out="runs/comics", preset="quick")
    vaegan.to_pil(model.sample(16)).save("samples.png")

See docs/api.md. The API is imported on first use, so `import vaegan` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Model", "from_pretrained", "load", "to_pil", "train"]

if TYPE_CHECKING:
    from vaegan.api import Model, from_pretrained, load, to_pil, train


def __dir__() -> list[str]:
    """The API's names and the module's dunders, so dir() and tab completion show the API before first use
    and nothing else (typing's names, submodules)."""
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})


def __getattr__(name: str) -> Any:
    if name in __all__:
        from vaegan import api

        return getattr(api, name)
    raise AttributeError(f"module 'vaegan' has no attribute {name!r}")
