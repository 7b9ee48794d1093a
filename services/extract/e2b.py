"""ICH E2B(R3) ICSR messages mapped straight to case-report fields (no model).

E2B(R3) is an HL7 v3 message (namespace ``urn:hl7-org:v3``): the case is an
``investigationEvent``; the patient is its ``primaryRole``; age, weight, reactions,
outcome and seriousness are ``observation``s keyed by a code of the ICH observation code
system (``2.16.840.1.113883.3.989.2.1.1.19``); drugs are ``substanceAdministration``s
whose role (suspect, concomitant…) a ``causalityAssessment`` gives by reference to the
drug's id. Element numbers (D.5, E.i.7, G.k.1…) are those of the ICH implementation
guide; the values are returned normalised to the words the rest of the service uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from xml.etree.ElementTree import Element

NS: Final = {"h": "urn:hl7-org:v3"}
OBSERVATION_CODES: Final = "2.16.840.1.113883.3.989.2.1.1.19"
CASE_ID_ROOT: Final = "2.16.840.1.113883.3.989.2.1.3.1"  # C.1.1

# Observation codes (ICH code system ...1.1.19).
AGE, AGE_GROUP, WEIGHT, REACTION, OUTCOME, INDICATION, DRUG_ROLE = (
    "3", "4", "7", "29", "27", "19", "20")
SERIOUSNESS: Final = {"34": "death", "21": "life_threatening", "33": "hospitalisation",
                      "35": "disability", "12": "congenital_anomaly",
                      "26": "other_medically_important"}
SEX: Final = {"1": "male", "2": "female", "0": "unknown", "9": "not_applicable"}  # ISO 5218
OUTCOMES: Final = {"0": "unknown", "1": "recovered", "2": "recovering", "3": "not_recovered",
                   "4": "recovered_with_sequelae", "5": "fatal"}  # E.i.7
DRUG_ROLES: Final = {"1": "suspect", "2": "concomitant", "3": "interacting",
                     "4": "not_administered"}  # G.k.1
QUALIFICATIONS: Final = {"1": "physician", "2": "pharmacist", "3": "other_health_professional",
                         "4": "lawyer", "5": "consumer"}  # C.2.r.4
REPORT_TYPES: Final = {"1": "spontaneous", "2": "study", "3": "other",
                       "4": "not_available"}  # C.1.3
AGE_UNITS: Final = {"a": "year", "mo": "month", "wk": "week", "d": "day", "h": "hour",
                    "dec": "decade"}


class NotAnIcsr(ValueError):
    """The XML holds no E2B(R3) case (no ``investigationEvent``)."""


def _code(element: Element) -> str:
    code = element.find("h:code", NS)
    return "" if code is None or code.get("codeSystem") != OBSERVATION_CODES \
        else code.get("code", "")


def _observations(parent: Element, path: str) -> dict[str, list[Element]]:
    found: dict[str, list[Element]] = {}
    for observation in parent.iterfind(path, NS):
        found.setdefault(_code(observation), []).append(observation)
    return found


def _value(observation: Element | None) -> Element | None:
    return None if observation is None else observation.find("h:value", NS)


def _text(element: Element | None, path: str = ".") -> str:
    found = None if element is None else element.find(path, NS)
    return (found.text or "").strip() if found is not None else ""


def _attr(element: Element | None, path: str, name: str) -> str:
    found = None if element is None else element.find(path, NS)
    return (found.get(name) or "") if found is not None else ""


def _quantity(value: Element | None) -> dict[str, Any] | None:
    if value is None or value.get("value") is None:
        return None
    return {"value": value.get("value"), "unit": value.get("unit", "")}


def _true(observation: Element) -> bool:
    value = _value(observation)
    return value is not None and value.get("value") == "true"


def _drug(administration: Element, roles: Mapping[str, str]) -> dict[str, Any]:
    product = "h:consumable/h:instanceOfKind/h:kindOfProduct"
    dose = administration.find("h:doseQuantity", NS)
    indication = administration.find(
        "h:inboundRelationship/h:observation/h:value/h:originalText", NS)
    return {
        "name": _text(administration, f"{product}/h:name"),  # G.k.2.2
        "role": roles.get(_attr(administration, "h:id", "root"), ""),  # G.k.1
        "dose": _quantity(dose),  # G.k.4.r.1
        "route": _attr(administration, "h:routeCode", "code")
                 or _text(administration, "h:routeCode/h:originalText"),  # G.k.4.r.10
        "start": _attr(administration, "h:effectiveTime/h:low", "value"),  # G.k.4.r.4
        "stop": _attr(administration, "h:effectiveTime/h:high", "value"),  # G.k.4.r.5
        "lot": _text(administration, "h:consumable/h:instanceOfKind/"
                                     "h:productInstanceInstance/h:lotNumberText"),  # G.k.4.r.7
        "indication": (indication.text or "").strip() if indication is not None else "",
        "dosage_text": _text(administration, "h:text"),  # G.k.5
    }


def _reaction(observation: Element) -> dict[str, Any]:
    related = _observations(observation, "h:outboundRelationship2/h:observation")
    value = _value(observation)
    outcome = _value(related.get(OUTCOME, [None])[0])
    return {
        "verbatim": _text(value, "h:originalText"),  # E.i.1.1a
        "meddra_code": value.get("code", "") if value is not None else "",  # E.i.2.1b
        "onset": _attr(observation, "h:effectiveTime/h:comp/h:low", "value")
                 or _attr(observation, "h:effectiveTime/h:low", "value"),  # E.i.4
        "outcome": OUTCOMES.get(outcome.get("code", ""), "") if outcome is not None else "",
        "seriousness": sorted(name for code, name in SERIOUSNESS.items()
                              if any(_true(o) for o in related.get(code, []))),  # E.i.3.2
    }


def case_from_e2b(root: Element) -> dict[str, Any]:
    """The case-report fields of the first ICSR in an E2B(R3) message."""
    case = root if root.tag == "{urn:hl7-org:v3}investigationEvent" \
        else root.find(".//h:investigationEvent", NS)
    if case is None:
        raise NotAnIcsr("no investigationEvent: not an ICH E2B(R3) ICSR message")
    patient = case.find("h:component/h:adverseEventAssessment/h:subject1/h:primaryRole", NS)
    observed = _observations(patient, "h:subjectOf2/h:observation") if patient is not None \
        else {}
    age = _quantity(_value(observed.get(AGE, [None])[0]))
    if age is not None:
        age["unit"] = AGE_UNITS.get(age["unit"], age["unit"])
    roles = {_attr(assessment, "h:subject2/h:productUseReference/h:id", "root"):
             DRUG_ROLES.get(_attr(assessment, "h:value", "code"), "")
             for assessment in case.iterfind(
                 "h:component/h:adverseEventAssessment/h:component/h:causalityAssessment", NS)
             if _code(assessment) == DRUG_ROLE}
    drugs = [] if patient is None else [
        _drug(administration, roles) for administration in patient.iterfind(
            "h:subjectOf2/h:organizer/h:component/h:substanceAdministration", NS)
        if administration.find("h:consumable", NS) is not None]
    # The primary source (C.2.r) is the related investigation that carries a priority.
    reporter = case.find("h:outboundRelationship[h:priorityNumber]/h:relatedInvestigation"
                         "//h:assignedPerson", NS)
    report_type = next((_attr(c, "h:value", "code") for c in case.iterfind(
        "h:subjectOf2/h:investigationCharacteristic", NS)
        if _attr(c, "h:code", "codeSystem") == "2.16.840.1.113883.3.989.2.1.1.23"
        and _attr(c, "h:code", "code") == "1"), "")
    return {
        "case_id": next((i.get("extension", "") for i in case.iterfind("h:id", NS)
                         if i.get("root") == CASE_ID_ROOT), ""),  # C.1.1
        "report_type": REPORT_TYPES.get(report_type, ""),  # C.1.3
        "narrative": _text(case, "h:text"),  # H.1
        "patient": {
            "initials": _text(patient, "h:player1/h:name"),  # D.1
            "sex": SEX.get(_attr(patient, "h:player1/h:administrativeGenderCode", "code"),
                           ""),  # D.5
            "age": age,  # D.2.2
            "age_group": _attr(_value(observed.get(AGE_GROUP, [None])[0]), ".", "code"),
            "weight_kg": (_quantity(_value(observed.get(WEIGHT, [None])[0])) or {}).get(
                "value"),  # D.3
        },
        "drugs": drugs,
        "reactions": [_reaction(o) for o in observed.get(REACTION, [])],
        "reporter": {
            "qualification": QUALIFICATIONS.get(
                _attr(reporter, "h:asQualifiedEntity/h:code", "code"), ""),  # C.2.r.4
            "country": _attr(reporter, "h:asLocatedEntity/h:location/h:code", "code"),
        },
    }
