"""Which variant answers a request: the main alias, a canary or A/B share (sticky per request key), or a
Thompson-sampling bandit over several aliases fed by rewards; plus an optional shadow alias.

Variants and shares come from command-line flags or the ``serving:`` section of a pipeline file.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from mlops_nb.exceptions import ConfigError

MAIN, CANARY, SHADOW, AB, BANDIT = "main", "canary", "shadow", "ab", "bandit"
_REMEMBERED = 200_000  # request ids whose bandit arm is kept for rewards


@dataclass
class Plan:
    """The traffic plan: `alias` answers unless a canary, A/B or bandit plan takes a share."""

    alias: str = "champion"
    canary: tuple[str, float] | None = None  # (alias, share in [0, 1])
    ab: tuple[str, float] | None = None
    bandit: list[str] = field(default_factory=list)
    shadow: str | None = None

    def __post_init__(self) -> None:
        splits = [
            name for name, on in (("canary", self.canary), ("ab", self.ab), ("bandit", self.bandit)) if on
        ]
        if len(splits) > 1:
            raise ConfigError(f"Give one of canary, ab, bandit (given: {', '.join(splits)}).")
        for name, pair in (("canary", self.canary), ("ab", self.ab)):
            if pair and pair[0] == self.alias:
                raise ConfigError(f"The {name} alias {pair[0]!r} is the main alias; give another one.")
        if self.shadow and ((self.shadow == self.alias and not self.bandit) or self.shadow in self.bandit):
            raise ConfigError(f"The shadow alias {self.shadow!r} already answers; give another one.")
        if self.bandit and len(set(self.bandit)) < 2:
            raise ConfigError(
                "A bandit needs at least two different aliases, e.g. --bandit champion,challenger."
            )

    def aliases(self) -> dict[str, str]:
        """Every alias to keep loaded, with its variant (the main alias first)."""
        found = {} if self.bandit else {self.alias: MAIN}
        for alias in self.bandit:
            found.setdefault(alias, BANDIT)
        for variant, pair in ((CANARY, self.canary), (AB, self.ab)):
            if pair:
                found.setdefault(pair[0], variant)
        if self.shadow:
            found.setdefault(self.shadow, SHADOW)
        return found

    def shares(self) -> dict[str, float]:
        """Configured share of traffic per answering alias (a bandit's arms: its current estimate)."""
        if self.bandit:
            return {}
        split = self.canary or self.ab
        if split is None:
            return {self.alias: 1.0}
        return {self.alias: 1.0 - split[1], split[0]: split[1]}

    def to_dict(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "canary": list(self.canary) if self.canary else None,
            "ab": list(self.ab) if self.ab else None,
            "bandit": self.bandit,
            "shadow": self.shadow,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            alias=data.get("alias") or "champion",
            canary=tuple(data["canary"]) if data.get("canary") else None,  # type: ignore[arg-type]
            ab=tuple(data["ab"]) if data.get("ab") else None,  # type: ignore[arg-type]
            bandit=list(data.get("bandit") or []),
            shadow=data.get("shadow"),
        )


def parse_split(text: str, flag: str) -> tuple[str, float]:
    """``ALIAS:PCT`` (percent in (0, 100)) as (alias, share)."""
    alias, _, pct = str(text).rpartition(":")
    try:
        share = float(pct) / 100
    except ValueError:
        share = -1.0
    if not alias or not 0 < share < 1:
        raise ConfigError(f"{flag} {text!r} must be ALIAS:PCT with 0 < PCT < 100, e.g. challenger:10.")
    return alias, share


def bucket(key: str) -> float:
    """A stable number in [0, 1) for a request key (same key, same bucket, in every process)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Bandit:
    """Thompson sampling with Beta posteriors; rewards are clipped into [0, 1] (1 = success)."""

    def __init__(self, arms: list[str], seed: int | None = None) -> None:
        self.arms = list(arms)
        self.successes = dict.fromkeys(arms, 0.0)
        self.failures = dict.fromkeys(arms, 0.0)
        self.pulls = dict.fromkeys(arms, 0)
        self._by_request: OrderedDict[str, str] = OrderedDict()
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def choose(self, request_id: str) -> str:
        with self._lock:
            draws = {
                arm: self._random.betavariate(1 + self.successes[arm], 1 + self.failures[arm])
                for arm in self.arms
            }
            arm = max(draws, key=draws.__getitem__)
            self.pulls[arm] += 1
            self._by_request[request_id] = arm
            if len(self._by_request) > _REMEMBERED:
                self._by_request.popitem(last=False)
        return arm

    def reward(self, request_id: str, reward: float) -> str | None:
        """Credit the arm that answered `request_id`, once: None when this process did not answer it or its
        reward was credited already (a pull earns one reward; repeats would let one client steer the arms)."""
        with self._lock:
            arm = self._by_request.pop(request_id, None)
            if arm is not None:
                value = min(1.0, max(0.0, reward))
                self.successes[arm] += value
                self.failures[arm] += 1.0 - value
        return arm

    def state(self) -> dict[str, dict[str, float]]:
        with self._lock:
            total = sum(self.pulls.values()) or 1
            return {
                arm: {
                    "pulls": self.pulls[arm],
                    "share": self.pulls[arm] / total,
                    "rewards": self.successes[arm] + self.failures[arm],
                    "mean_reward": (self.successes[arm] + 1) / (self.successes[arm] + self.failures[arm] + 2),
                }
                for arm in self.arms
            }


class Router:
    """Picks the answering (variant, alias) of each request under a plan."""

    def __init__(self, plan: Plan, seed: int | None = None) -> None:
        self.plan = plan
        self.bandit = Bandit(plan.bandit, seed) if plan.bandit else None

    def route(self, request_id: str) -> tuple[str, str]:
        if self.bandit is not None:
            return BANDIT, self.bandit.choose(request_id)
        plan = self.plan
        for variant, split in ((CANARY, plan.canary), (AB, plan.ab)):
            if split is not None and bucket(request_id) < split[1]:
                return variant, split[0]
        return MAIN, plan.alias
