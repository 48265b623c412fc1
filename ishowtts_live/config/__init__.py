"""Configuration: msgspec schema, loading with every error listed, overrides."""

from ishowtts_live.config.loading import LoadedConfig, load_config, show_config
from ishowtts_live.config.schema import Config

__all__ = ["Config", "LoadedConfig", "load_config", "show_config"]
