"""The services' parameters (one table per service) and the WADL documents made from them."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

COMMON = [("network", "xs:string"), ("station", "xs:string"), ("location", "xs:string"),
          ("channel", "xs:string"), ("starttime", "xs:dateTime"), ("endtime", "xs:dateTime"),
          ("nodata", "xs:int")]
PARAMETERS = {
    "dataselect": COMMON + [("quality", "xs:string"), ("minimumlength", "xs:double"),
                            ("longestonly", "xs:boolean"), ("format", "xs:string")],
    "station": COMMON + [
        ("startbefore", "xs:dateTime"), ("startafter", "xs:dateTime"),
        ("endbefore", "xs:dateTime"), ("endafter", "xs:dateTime"),
        ("minlatitude", "xs:double"), ("maxlatitude", "xs:double"),
        ("minlongitude", "xs:double"), ("maxlongitude", "xs:double"),
        ("latitude", "xs:double"), ("longitude", "xs:double"), ("minradius", "xs:double"),
        ("maxradius", "xs:double"), ("updatedafter", "xs:dateTime"), ("level", "xs:string"),
        ("format", "xs:string"),
        ("includerestricted", "xs:boolean"),
        ("includeavailability", "xs:boolean"), ("matchtimeseries", "xs:boolean")],
    "availability": COMMON + [
        ("quality", "xs:string"), ("merge", "xs:string"), ("mergegaps", "xs:double"),
        ("show", "xs:string"), ("orderby", "xs:string"), ("limit", "xs:int"),
        ("includerestricted", "xs:boolean"), ("format", "xs:string")],
    "event": [
        ("starttime", "xs:dateTime"), ("endtime", "xs:dateTime"),
        ("minlatitude", "xs:double"), ("maxlatitude", "xs:double"),
        ("minlongitude", "xs:double"), ("maxlongitude", "xs:double"),
        ("latitude", "xs:double"), ("longitude", "xs:double"), ("minradius", "xs:double"),
        ("maxradius", "xs:double"), ("mindepth", "xs:double"), ("maxdepth", "xs:double"),
        ("minmagnitude", "xs:double"), ("maxmagnitude", "xs:double"),
        ("magnitudetype", "xs:string"), ("includeallorigins", "xs:boolean"),
        ("includeallmagnitudes", "xs:boolean"), ("includearrivals", "xs:boolean"),
        ("eventid", "xs:string"), ("limit", "xs:int"), ("offset", "xs:int"),
        ("orderby", "xs:string"), ("catalog", "xs:string"), ("contributor", "xs:string"),
        ("updatedafter", "xs:dateTime"), ("format", "xs:string"), ("nodata", "xs:int")],
}
METHODS = {"dataselect": ("query",), "station": ("query",),
           "availability": ("extent", "query"), "event": ("query",)}
VERSIONS = {"dataselect": "1.1.0", "station": "1.1.0", "availability": "1.0.0",
            "event": "1.2.0"}
# Resources besides version and application.wadl that answer XML (the event service's).
EXTRA = {"event": ("catalogs", "contributors")}


def allowed(service: str) -> frozenset[str]:
    """The parameter names a service accepts (long names)."""
    return frozenset(name for name, _ in PARAMETERS[service])


def document(service: str, base_url: str) -> str:
    """The service's WADL (`base_url` ends with /fdsnws/SERVICE/1/)."""
    params = "\n".join(f'          <param name="{n}" style="query" type="{t}"/>'
                       for n, t in PARAMETERS[service])
    methods = "".join(f"""
    <resource path="{m}">
      <method id="{m}" name="GET">
        <request>
{params}
        </request>
        <response status="200"/>
        <response status="204 400 404 413 500"/>
      </method>
      <method id="{m}POST" name="POST">
        <response status="200"/>
      </method>
    </resource>""" for m in METHODS[service])
    extra = "".join(f"""
    <resource path="{r}"><method name="GET"><response><representation
      mediaType="application/xml"/></response></method></resource>"""
                    for r in EXTRA.get(service, ()))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<application xmlns="http://wadl.dev.java.net/2009/02"
             xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <doc title="FDSN {service} web service (Belvedere)"/>
  <resources base={quoteattr(base_url)}>
    <resource path="version"><method name="GET"><response><representation
      mediaType="text/plain"/></response></method></resource>
    <resource path="application.wadl"><method name="GET"><response><representation
      mediaType="application/xml"/></response></method></resource>{extra}{methods}
  </resources>
</application>
"""
