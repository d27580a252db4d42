"""Consent and sharing rules: the rule files, the consent store and the pure decision function."""

from rules.decide import decide
from rules.loader import RuleSet, load_rules, parse_rules
from rules.store import ConsentStore, RulesFileConsentStore

__all__ = ["ConsentStore", "RuleSet", "RulesFileConsentStore", "decide", "load_rules", "parse_rules"]
