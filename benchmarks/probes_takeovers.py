"""The reviewer's probe of the takeover search: a fresh-fingerprint tool covering its own IPs.

Review R35 (session 26), kept as a world after its script was lost. The takeover search
(:mod:`graph.rings.takeovers`) takes any fingerprint new to an arriving account as the tool's
other side at an entity where at most ``OWN_SIDE_SHARE`` (5 %) of the chosen arrivals come with
a device of their own (the tool's own IP: review R32's ``stuff_randfp``, 192 of 200 found). A
tool can cover its IPs with arrivals on stable devices. World ``TR`` on the shapes base
population (2,000 accounts, 40 carrier IPs, 84 days), three tools of 200 victims each (drawn
from the accounts that exist before the log), each through 4 IPs of its own, a fresh
fingerprint per victim, 1-3 failed passwords then a success, the attempts of a victim from one
of the tool's IPs (drawn per victim) within 2-5 hours:

* ``tool_randfp``: as it is (the control);
* ``tool_randfp_aged``: beside its victims, 20 aged accounts of the tool's own (signed up 30-40
  days before on a device each, logging in on it every few days from an IP of their own) log in
  through its IPs on their own devices during the campaign, 5 through each, no failure: 9 % of
  each IP's arrivals come with a device of their own;
* ``tool_randfp_revisit``: the campaign over two days (100 victims a day); on the second day
  20 of the first day's victims (5 through each IP) are visited again through the next of its
  IPs with the fingerprint the tool gave them the day before (a device not new to them).

The cover accounts are recorded as a group of their own (``TOOL_cover``, abusive): in a ring
they are no honest account. Run without labels (``python -m benchmarks.probes_takeovers --seeds
0 1 [--set ...]``; one full run a seed); printed per seed as :mod:`benchmarks.hostels` prints
(per tool the most of its victims one ring holds, its victims in rings, honest beside).
"""

from __future__ import annotations

import numpy as np

from benchmarks.probes_places import run_seeds
from benchmarks.shapes.abuse import failed_then_success
from benchmarks.shapes.population import DAY, HOUR, Group, World, base_population, record_hubs

#: Victims a tool gets into, and the arrivals it covers its IPs with.
VICTIMS, COVER = 200, 20
#: The tools: name -> how it covers its IPs (None, "aged" or "revisit").
TOOLS = {"tool_randfp": None, "tool_randfp_aged": "aged", "tool_randfp_revisit": "revisit"}


def _attempts(world: World, victims: np.ndarray, begin: float, ips: np.ndarray,
              fingerprints: np.ndarray) -> None:
    """Each of ``victims`` tried from ``begin`` within 2-5 hours with its fingerprint through
    its IP (``ips``, one per victim): 1-3 failed passwords, then a success."""
    rng = world.rng
    n = len(victims)
    who, failed, position = failed_then_success(rng.integers(1, 4, n))
    ts = (begin + rng.random(n) * rng.uniform(2, 5) * HOUR)[who] + position * 40
    world.add("logins", user=victims[who], ts=ts + rng.uniform(0, 30, len(who)),
              ip=ips[who], device=fingerprints[who], failed=failed)


def _aged_cover(world: World, name: str, day: float, ips: np.ndarray) -> None:
    """:data:`COVER` accounts of the tool's own, signed up 30-40 days before ``day`` on a
    device each and logging in on it every ~3 days from an IP each, then once through ``ips``
    (as many through each) on their own device within ``day``'s campaign hours."""
    rng = world.rng
    users, devices, homes = (world.new(kind, COVER) for kind in ("account", "device", "ip"))
    signed = (day - rng.uniform(30, 40, COVER)) * DAY
    world.signup(users, signed, devices, homes)
    idx = np.repeat(np.arange(COVER), 10)
    world.add("logins", user=users[idx], ts=world.at_daytime(signed[idx] + HOUR, day * DAY),
              ip=homes[idx], device=devices[idx], failed=0)
    world.add("logins", user=users, ts=(day + rng.uniform(0, 0.2, COVER)) * DAY,
              ip=np.resize(ips, COVER), device=devices, failed=0)
    world.groups.append(Group(f"{name}_cover", "tool_cover", users, True, {"day": day}))


def tool(world: World, name: str, day: float, victims: np.ndarray, cover: str | None) -> None:
    """A fresh-fingerprint tool (module docstring) getting into ``victims`` from ``day``,
    covered as ``cover`` says."""
    rng = world.rng
    tool_ips = world.new("ip", 4)
    fingerprints = world.new("device", len(victims))
    ips = rng.choice(tool_ips, len(victims))
    if cover == "revisit":
        half = len(victims) // 2
        _attempts(world, victims[:half], (day + 0.4) * DAY, ips[:half], fingerprints[:half])
        _attempts(world, victims[half:], (day + 1.4) * DAY, ips[half:], fingerprints[half:])
        again = np.concatenate([rng.choice(np.flatnonzero(ips[:half] == ip), COVER // 4,
                                           replace=False) for ip in tool_ips])
        nxt = tool_ips[(np.searchsorted(tool_ips, ips[again]) + 1) % 4]
        world.add("logins", user=victims[again], ts=(day + 1.4 + rng.uniform(0, 0.15, COVER))
                  * DAY, ip=nxt, device=fingerprints[again], failed=0)
    else:
        _attempts(world, victims, (day + 0.4) * DAY, ips, fingerprints)
        if cover == "aged":
            _aged_cover(world, name, day + 0.4, tool_ips)
    world.groups.append(Group(name, "credential_stuffing", np.sort(victims), True,
                              {"day": day, "ips": tool_ips.tolist(), "cover": cover}))


def world_tr(seed: int, base: int = 2000) -> World:
    """World ``TR`` of the module docstring, drawn with ``seed``."""
    world = World(seed)
    carrier = world.new("ip", 40)
    users = base_population(world, base, carrier)
    existing = world.rng.permutation(users[~world.fresh[users]])
    for i, (name, cover) in enumerate(TOOLS.items()):
        tool(world, name, 30 + 15 * i, existing[i * VICTIMS:(i + 1) * VICTIMS], cover)
    record_hubs(world)
    return world


def main(argv: list[str] | None = None) -> None:
    """Command line: one JSON line of figures per seed."""
    run_seeds(argv, __doc__, "probes_takeovers", {"TR": world_tr})


if __name__ == "__main__":
    main()
