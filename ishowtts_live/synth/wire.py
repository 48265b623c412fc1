"""One Triton Inference Server model, reached over gRPC or HTTP with
``tritonclient``'s asyncio clients (torch-free).

Upstream F5-TTS's Triton contract (``model_repo_f5_tts/f5_tts/config.pbtxt``):
inputs ``reference_wav`` FP32 [-1] (optional), ``reference_wav_len`` INT32 [1]
(optional), ``reference_text`` BYTES [1], ``target_text`` BYTES [1]; output
``waveform`` FP32 [-1] at 24 kHz; every request carries a batch dimension of
one. The reference is sent at the rate the model config's
``reference_audio_sample_rate`` parameter names (24 kHz when absent).
:data:`EXTRAS` are this project's optional inputs (``ishowtts-live serve``),
sent only to a model whose metadata lists them.

Failures come in two kinds: :class:`ServerDown` (no answer: refused,
reset, timed out — try again later) and :class:`ServerError` (the server
answered that this request failed).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from ishowtts_live.compat import timeout as deadline

# name → (Triton datatype, numpy dtype) of the optional extras, all shaped [1, 1]
EXTRAS: dict[str, tuple[str, Any]] = {
    "nfe_step": ("INT32", np.int32),
    "cfg_strength": ("FP32", np.float32),
    "sway_sampling_coef": ("FP32", np.float32),
    "speed": ("FP32", np.float32),
    "seed": ("INT64", np.int64),
}
OUTPUT = "waveform"
DEFAULT_REFERENCE_RATE = 24000
DEFAULT_PORTS = {"grpc": 8001, "http": 8000, "https": 443}


@dataclass(frozen=True)
class Endpoint:
    url: str  # as configured, for messages
    protocol: str  # "grpc" or "http"
    address: str  # host:port
    ssl: bool


def parse_url(url: str) -> Endpoint:
    """``grpc://host:port``, ``http://host:port`` or ``https://host:port``
    (the port defaults to Triton's); ValueError saying what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError(f"expected grpc://host:port, http://host:port or https://host:port, got {url!r}")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ValueError(f"the port of {url!r} is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    if parts.path.strip("/") or parts.query:
        raise ValueError(f"{url!r}: give only scheme, host and port (the model is engine.triton.model)")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Endpoint(url=url.strip(), protocol="grpc" if parts.scheme == "grpc" else "http",
                    address=f"{host}:{port}", ssl=parts.scheme == "https")


class ServerDown(Exception):
    """No answer from the server (not running, unreachable, connection lost, too slow)."""


class TimedOut(ServerDown):
    """The request outlived its timeout: the server may be gone or just busy."""


class ServerError(Exception):
    """The server answered, with an error for this request."""


@dataclass(frozen=True)
class ModelInfo:
    inputs: frozenset[str]
    max_batch: int  # the model's max_batch_size (0: it does not batch)
    reference_rate: int
    platform: str

    @property
    def extras(self) -> frozenset[str]:
        return self.inputs & EXTRAS.keys()


def _model_info(metadata: dict, config: dict) -> ModelInfo:
    """From the JSON forms of the model's metadata and config (gRPC nests the
    config one level deeper, under "config")."""
    config = config.get("config", config)
    params = config.get("parameters") or {}
    rate = params.get("reference_audio_sample_rate", {}).get("string_value", "")
    names = frozenset(i.get("name", "") for i in metadata.get("inputs", []))
    missing = {"reference_text", "target_text"} - names
    if missing or OUTPUT not in {o.get("name") for o in metadata.get("outputs", [])}:
        raise ServerError(f"the model does not speak F5-TTS's Triton contract (inputs {sorted(names)}, "
                          f"outputs {[o.get('name') for o in metadata.get('outputs', [])]})")
    try:
        reference_rate = int(rate) if rate else DEFAULT_REFERENCE_RATE
    except ValueError:
        raise ServerError(f"the model's reference_audio_sample_rate is not a number: {rate!r}") from None
    return ModelInfo(inputs=names, max_batch=int(config.get("max_batch_size", 0) or 0),
                     reference_rate=reference_rate, platform=str(metadata.get("platform", "")))


class Connection:
    """A client for one model on one server. Not shared between event loops."""

    def __init__(self, endpoint: Endpoint, model: str):
        self.endpoint = endpoint
        self.model = model
        self._client: Any = None

    def _open(self) -> Any:
        if self._client is None:
            if self.endpoint.protocol == "grpc":
                import tritonclient.grpc.aio as grpcclient

                # A fresh channel per (re)connection: a gRPC channel left in its
                # reconnect backoff would notice a restarted server only minutes later.
                self._client = grpcclient.InferenceServerClient(self.endpoint.address)
            else:
                import tritonclient.http.aio as httpclient

                self._client = httpclient.InferenceServerClient(self.endpoint.address, ssl=self.endpoint.ssl)
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone either way
                pass

    async def describe(self, timeout: float) -> ModelInfo:
        """The model, ready to serve: ServerDown when the server or the model is not."""
        async def ask() -> ModelInfo:
            client = self._open()
            if not await client.is_server_live():
                raise ServerDown("the server is not live")
            if not await client.is_model_ready(self.model):
                raise ServerDown(f"model {self.model!r} is not ready on the server")
            metadata = await client.get_model_metadata(self.model, **self._json())
            config = await client.get_model_config(self.model, **self._json())
            return _model_info(metadata, config)

        return await self._call(ask(), timeout)

    async def infer(self, inputs: dict[str, np.ndarray], timeout: float) -> np.ndarray | None:
        """The ``waveform`` output of one request (None when there is none)."""
        async def ask() -> np.ndarray | None:
            client = self._open()
            module = _module(self.endpoint.protocol)
            tensors = []
            for name, array in inputs.items():
                tensor = module.InferInput(name, list(array.shape), _datatype(array))
                tensor.set_data_from_numpy(array)
                tensors.append(tensor)
            result = await client.infer(self.model, tensors, outputs=[module.InferRequestedOutput(OUTPUT)])
            return result.as_numpy(OUTPUT)

        return await self._call(ask(), timeout)

    def _json(self) -> dict:
        return {"as_json": True} if self.endpoint.protocol == "grpc" else {}

    async def _call(self, coro: Any, timeout: float) -> Any:
        """Run one exchange, its failures sorted into ServerDown and ServerError."""
        from tritonclient.utils import InferenceServerException

        try:
            async with deadline(timeout):
                return await coro
        except (TimeoutError, asyncio.TimeoutError):  # two classes on Python 3.10
            await self.close()
            raise TimedOut(f"no answer within {timeout:g} s") from None
        except InferenceServerException as exc:
            status = str(exc.status() or "")
            if status.endswith(("UNAVAILABLE", "CANCELLED", "DEADLINE_EXCEEDED", "UNKNOWN")) or status == "503":
                await self.close()
                raise ServerDown(_first_line(exc.message() or str(exc))) from None
            raise ServerError(_first_line(exc.message() or str(exc))) from None
        except (OSError, ConnectionError) as exc:
            await self.close()
            raise ServerDown(_first_line(str(exc) or type(exc).__name__)) from None
        except Exception as exc:
            import aiohttp

            if isinstance(exc, aiohttp.ClientError):
                await self.close()
                raise ServerDown(_first_line(str(exc) or type(exc).__name__)) from None
            raise


def _module(protocol: str) -> Any:
    if protocol == "grpc":
        import tritonclient.grpc as module
    else:
        import tritonclient.http as module
    return module


def _datatype(array: np.ndarray) -> str:
    from tritonclient.utils import np_to_triton_dtype

    return np_to_triton_dtype(array.dtype)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no detail"
