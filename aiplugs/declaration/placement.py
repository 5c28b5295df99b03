"""``[ray]`` and ``[plugins.<id>.resources]``: where plugins with ``backend = "ray"`` run, and what each of their
replicas asks the cluster for."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["RayConfig", "ResourcesConfig"]

# "auto" (the cluster this machine is a node of), a Ray Client URL, or a GCS address host:port
_ADDRESS = re.compile(r"auto|ray://[^\s/:]+(:\d{1,5})?|[A-Za-z0-9.\-\[\]]+:\d{1,5}")


class RayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str | None = Field(default=None, description='unset: aiplugs starts (and `down` stops) a local Ray '
                                'instance; "auto" or "ray://host:10001": connect to a cluster, never stop it')
    num_cpus: int | None = Field(default=None, ge=1, description="CPUs of the local instance aiplugs starts "
                                 "(unset: every core); ignored with an address")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not _ADDRESS.fullmatch(value):
            raise ValueError(f'must be "auto", "ray://host:10001" or "host:6379" (got {value!r})')
        return value


class ResourcesConfig(BaseModel):
    """What one replica of a ray-backed plugin reserves on its node (Ray's ``ray_actor_options``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_cpus: float | None = Field(default=None, ge=0, description="CPUs per replica (unset: Ray Serve's default)")
    num_gpus: float | None = Field(default=None, ge=0, description="GPUs per replica (fractions share a GPU)")
