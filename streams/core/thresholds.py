"""Tunable parameters of the rules; defaults are the contract's (docs/domain.md)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from streams.core.reference_data import mobile_blocks


def _mobile(key: str) -> list[str]:
    return list(mobile_blocks()[key])


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_age_years: int = Field(default=120, ge=1, description="BIRTH_DATE_INVALID above this age")
    adult_age_years: int = Field(default=18, ge=1, description="POLICYHOLDER_MINOR below this age")
    marriage_age_male: int = Field(default=22, ge=0)
    marriage_age_female: int = Field(default=20, ge=0)
    placeholder_names: list[str] = Field(
        default_factory=lambda: ["客户", "先生", "女士", "小姐", "测试", "不详", "无", "某某", "张三", "李四", "王五", "test"]
    )
    placeholder_name_parts: list[str] = Field(default_factory=lambda: ["测试", "某某", "test"])
    honorifics: list[str] = Field(default_factory=lambda: ["先生", "女士", "小姐"])
    address_min_length: int = Field(default=5, ge=0)
    house_number_tokens: list[str] = Field(default_factory=lambda: ["号", "室", "栋", "幢", "单元", "组", "村", "弄"])
    vague_address_words: list[str] = Field(default_factory=lambda: ["不详", "附近", "同上", "待补"])
    vague_address_exact: list[str] = Field(default_factory=lambda: ["无", "暂无"])
    allocated_mobile_prefixes: list[str] = Field(default_factory=lambda: _mobile("allocated"))
    unassigned_mobile_blocks: list[str] = Field(default_factory=lambda: _mobile("unassigned_blocks"))
    placeholder_phone_numbers: list[str] = Field(default_factory=lambda: _mobile("known_placeholders"))
    identical_digit_run: int = Field(default=7, ge=2)
    sequential_digit_run: int = Field(default=8, ge=3)
    share_tolerance_pct: float = Field(default=0.01, ge=0)
