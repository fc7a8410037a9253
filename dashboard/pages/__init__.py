"""One `pn.viewable.Viewer` per page; `PAGES` names them by view (the route is `/<slug>`)."""

from __future__ import annotations

from dashboard.pages.availability import AvailabilityPage
from dashboard.pages.base import Page, SnapshotError, SnapshotParts
from dashboard.pages.helicorder import HelicorderPage
from dashboard.pages.mission import MissionPage
from dashboard.pages.noise import NoisePage
from dashboard.pages.overview import OverviewPage
from dashboard.pages.resources import ResourcesPage
from dashboard.pages.rsam import RsamPage
from dashboard.pages.stations import StationsPage
from dashboard.pages.waveforms import WaveformsPage

PAGES: dict[str, type[Page]] = {
    "overview": OverviewPage, "waveforms": WaveformsPage, "availability": AvailabilityPage,
    "stations": StationsPage, "resources": ResourcesPage, "mission": MissionPage,
    "helicorder": HelicorderPage, "noise": NoisePage, "rsam": RsamPage}

__all__ = ["PAGES", "Page", "SnapshotError", "SnapshotParts", "AvailabilityPage", "HelicorderPage",
           "MissionPage", "NoisePage", "OverviewPage", "ResourcesPage", "RsamPage",
           "StationsPage", "WaveformsPage"]
