"""Country and coarse region of a client IP address, offline (the Enrich stage, before the IP is stripped).

The data: the ``iptocc`` package (PyPI, MIT OR Apache-2.0), a Rust extension with the five Regional Internet
Registries' delegation files embedded (~1.8 MB, no file or network I/O at run time; ~0.2 us a lookup). RIR data
says which country a block is *assigned* to, not where it is used (it agrees with commercial databases for ~95%
of IPv4 addresses): good enough for a country/region split of revenue, and free of the licence terms of
MaxMind's GeoLite2 (which needs an account key and attribution). Private, loopback, link-local, documentation
and unassigned addresses have no country: ``country`` is None and ``region`` is ``"unknown"``.

Regions: the coarse commercial split game publishers report by (Americas, Europe, Middle East & Africa,
Asia-Pacific), by ISO 3166-1 alpha-2 code.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from iptocc import country_code

from contracts.warehouse import REGIONS

UNKNOWN_REGION = REGIONS[-1]

_REGION_CODES = {  # in the order of contracts.warehouse.REGIONS
    "americas": (
        "AG AI AR AW BB BL BM BO BQ BR BS BZ CA CL CO CR CU CW DM DO EC FK GD GF GL GP GT GY HN HT JM KN KY LC MF MQ "
        "MS MX NI PA PE PM PR PY SR SV SX TC TT US UY VC VE VG VI UM GS"
    ),
    "europe": (
        "AD AL AM AT AX AZ BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GE GG GI GR HR HU IE IM IS IT JE LI LT LU "
        "LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA XK EU"
    ),
    "middle_east_africa": (
        "AE AO BF BH BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW IL IQ IR JO KE KM KW LB LR LS "
        "LY MA MG ML MR MU MW MZ NA NE NG OM PS QA RE RW SA SC SD SH SL SN SO SS ST SY SZ TD TG TN TR TZ UG YE YT "
        "ZA ZM ZW"
    ),
    "asia_pacific": (
        "AF AP AQ AS AU BD BN BT CC CK CN CX FJ FM GU HK HM ID IN IO JP KG KH KI KP KR KZ LA LK MH MM MN MO MP MV "
        "MY NC NF NP NR NU NZ PF PG PH PK PN PW SB SG TF TH TJ TK TL TM TO TV TW UZ VN VU WF WS"
    ),
}

#: ISO 3166-1 alpha-2 code -> coarse region.
REGION_OF: dict[str, str] = {code: region for region, codes in _REGION_CODES.items() for code in codes.split()}
if (*_REGION_CODES, UNKNOWN_REGION) != REGIONS:  # pragma: no cover - guards edits of the table above
    raise RuntimeError("the regions here and contracts.warehouse.REGIONS differ")


@lru_cache(maxsize=65536)
def locate(client_ip: str) -> tuple[str | None, str]:
    """(ISO 3166-1 alpha-2 country or None, region) of an IPv4 or IPv6 address (any text: None, unknown).

    The RIRs delegate no private, loopback, link-local, documentation, multicast or CGNAT block, so those
    have no country (tests/unit/enrichment prove it per range); parsing every address first (``ipaddress``)
    would cost ~100 times the lookup."""
    code = country_code(client_ip)
    if code is None and ":" in client_ip and "." in client_ip:  # ::ffff:a.b.c.d is the IPv4 address
        try:
            mapped = ipaddress.IPv6Address(client_ip).ipv4_mapped
        except ValueError:
            mapped = None
        code = country_code(str(mapped)) if mapped is not None else None
    if not code:
        return None, UNKNOWN_REGION
    code = code.upper()
    return code, REGION_OF.get(code, UNKNOWN_REGION)
