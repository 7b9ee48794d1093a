"""The label vocabularies of the three classify tasks.

Codes are stable identifiers used in training data, the model and the API; display names
are for people. A new label is a new model version (and so a new filing).
"""

from __future__ import annotations

from typing import Final

PRODUCT_CATEGORY: Final = "product_category"
DEVICE_CLASS: Final = "device_class"
REVIEW_ROUTE: Final = "review_route"
TASKS: Final[tuple[str, ...]] = (PRODUCT_CATEGORY, DEVICE_CLASS, REVIEW_ROUTE)

# code -> (中文, English)
LABELS: Final[dict[str, dict[str, tuple[str, str]]]] = {
    PRODUCT_CATEGORY: {
        "drug": ("药品", "drug"),
        "device": ("医疗器械", "medical device"),
        "cosmetic": ("化妆品", "cosmetic"),
        "combination": ("药械组合产品", "drug-device combination"),
        "not_device": ("不作为医疗器械管理", "not regulated as a medical device"),
    },
    DEVICE_CLASS: {
        "I": ("第一类", "Class I"),
        "II": ("第二类", "Class II"),
        "III": ("第三类", "Class III"),
        # Drugs, cosmetics and non-devices have no device class; a label of its own keeps
        # the probabilities a distribution over everything the model may answer.
        "not_applicable": ("不适用", "not applicable"),
    },
    REVIEW_ROUTE: {
        # Sub-catalogs of the 2017 medical device classification catalogue (医疗器械分类目录).
        "01": ("有源手术器械", "active surgical devices"),
        "02": ("无源手术器械", "passive surgical devices"),
        "03": ("神经和心血管手术器械", "neurological and cardiovascular surgical devices"),
        "04": ("骨科手术器械", "orthopaedic surgical devices"),
        "05": ("放射治疗器械", "radiotherapy devices"),
        "06": ("医用成像器械", "medical imaging devices"),
        "07": ("医用诊察和监护器械", "diagnostic examination and monitoring devices"),
        "08": ("呼吸、麻醉和急救器械", "respiratory, anaesthesia and emergency devices"),
        "09": ("物理治疗器械", "physical therapy devices"),
        "10": ("输血、透析和体外循环器械", "transfusion, dialysis and extracorporeal devices"),
        "11": ("医疗器械消毒灭菌器械", "disinfection and sterilisation devices"),
        "12": ("有源植入器械", "active implants"),
        "13": ("无源植入器械", "passive implants"),
        "14": ("注输、护理和防护器械", "infusion, nursing and protective devices"),
        "15": ("患者承载器械", "patient handling devices"),
        "16": ("眼科器械", "ophthalmic devices"),
        "17": ("口腔科器械", "dental devices"),
        "18": ("妇产科、辅助生殖和避孕器械",
               "obstetric, gynaecological, ART and contraceptive devices"),
        "19": ("医用康复器械", "rehabilitation devices"),
        "20": ("中医器械", "traditional Chinese medicine devices"),
        "21": ("医用软件", "medical software"),
        "22": ("临床检验器械", "clinical laboratory devices"),
        "ivd": ("体外诊断试剂", "in-vitro diagnostic reagents"),
        "drug": ("药品审评（药品审评中心）", "drug review (Center for Drug Evaluation)"),
        "cosmetic": ("化妆品技术审评", "cosmetics technical review"),
        "combination": ("药械组合产品属性界定", "combination product designation"),
        "none": ("无需注册审评", "no registration review"),
    },
}


def label_codes(task: str) -> tuple[str, ...]:
    return tuple(LABELS[task])


def display_name(task: str, code: str, language: str = "zh") -> str:
    zh, en = LABELS[task][code]
    return zh if language == "zh" else en
