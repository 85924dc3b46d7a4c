"""Pop-up titles in the person's language.

Gradio's page titles each pop-up with its level in English ("Error", "Warning", "Info") whatever title the
server sends, so ``HEAD`` (a script for ``launch(head=...)``) puts the catalogue's titles in their place, in
the language the server words its messages in: the first Chinese or English one of the browser's languages
(as ``i18n.language_of`` reads them from ``Accept-Language``). It also sets ``<html lang>`` to it.
"""
from __future__ import annotations

import json

from .i18n import LANGUAGES, text

LEVELS = ("error", "warning", "info")


def _titles() -> dict[str, dict[str, str]]:
    return {language: {level: text(f"title_{level}", language) for level in LEVELS} for language in LANGUAGES}


HEAD = """<script>
(() => {
  const titles = %s;
  const preferred = (navigator.languages || [navigator.language || ""]).map(tag => tag.toLowerCase())
    .find(tag => tag.startsWith("zh") || tag.startsWith("en")) || "en";
  const language = preferred.startsWith("zh") ? "zh-CN" : "en";
  document.documentElement.lang = language;
  const retitle = () => document.querySelectorAll(".toast-title").forEach(title => {
    const level = Object.keys(titles[language]).find(name => title.classList.contains(name));
    const words = [...title.childNodes].find(node => node.nodeType === Node.TEXT_NODE && node.nodeValue.trim());
    if (level && words && words.nodeValue.trim() !== titles[language][level]) {
      words.nodeValue = titles[language][level] + " ";
    }
  });
  new MutationObserver(retitle).observe(document.documentElement, {childList: true, subtree: true});
})();
</script>""" % json.dumps(_titles(), ensure_ascii=False)
