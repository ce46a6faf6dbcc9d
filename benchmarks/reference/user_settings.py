"""Reference: the settings a user of the specified stack would write with pydantic-settings,
read from the same variables as outscale-cli's (OUTSCALE_SERVER_URL, OUTSCALE_MODEL_NAME, ...).
Imported by the reference scripts beside it."""

from typing import Optional

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTSCALE_")

    server_url: str
    model_name: str
    timeout: float = 120.0
    connect_timeout: float = 10.0
    max_time: Optional[float] = None  # noqa: UP045
    retries: int = 2
    api_key: Optional[SecretStr] = None  # noqa: UP045

    def headers(self) -> dict[str, str]:
        if self.api_key is None:
            return {}
        return {"Authorization": f"Bearer {self.api_key.get_secret_value()}"}
