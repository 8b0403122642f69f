"""Type into a workbook through LibreOffice, as a person would, and save it as .xlsx.

Run by a Python that has LibreOffice's ``uno`` module (the system python3 with python3-uno), not by
the test's own interpreter: ``python3 libreoffice_type.py BOOK SHEET KEY '{"header": "text"}'``.
LibreOffice is started headless with its own profile; each cell is typed with the dispatcher
(GoToCell, EnterString), which honours sheet protection like the keyboard does. Prints JSON:
whether the sheet is protected, each cell's IsLocked, and what each cell holds after typing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import uno  # type: ignore[import-not-found]
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]


def prop(name: str, value: Any) -> Any:
    p = PropertyValue()
    p.Name = name
    p.Value = value
    return p


def connect(pipe: str) -> Any:
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    for _ in range(240):
        try:
            return resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
        except Exception:  # not listening yet
            time.sleep(0.25)
    raise SystemExit("LibreOffice did not start within 60 seconds")


def type_into(doc: Any, ctx: Any, sheet_name: str, key: str, typed: dict[str, str]) -> dict[str, Any]:
    sheet = doc.Sheets.getByName(sheet_name)
    used = sheet.createCursor()
    used.gotoEndOfUsedArea(False)
    last_col, last_row = used.RangeAddress.EndColumn, used.RangeAddress.EndRow
    headers = {sheet.getCellByPosition(c, 0).String: c for c in range(last_col + 1)}
    row = next(r for r in range(1, last_row + 1) if sheet.getCellByPosition(headers["照会ID"], r).String == key)
    out: dict[str, Any] = {"protected": sheet.isProtected(), "row": row + 1, "locked": {}, "typed": {}}
    dispatcher = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.DispatchHelper", ctx)
    frame = doc.CurrentController.Frame
    for header, text in typed.items():
        cell = sheet.getCellByPosition(headers[header], row)
        out["locked"][header] = cell.CellProtection.IsLocked
        address = cell.AbsoluteName.split(".")[-1].replace("$", "")
        dispatcher.executeDispatch(frame, ".uno:GoToCell", "", 0, (prop("ToPoint", address),))
        dispatcher.executeDispatch(frame, ".uno:EnterString", "", 0, (prop("StringName", text),))
        out["typed"][header] = sheet.getCellByPosition(headers[header], row).String
    return out


def main(book: str, sheet_name: str, key: str, typed_json: str) -> None:
    work = tempfile.mkdtemp(prefix="kr-lo-")
    pipe = f"kr{os.getpid()}"
    profile = uno.systemPathToFileUrl(os.path.join(work, "profile"))
    command = [shutil.which("soffice") or "soffice", f"-env:UserInstallation={profile}", "--headless",
               "--invisible", "--norestore", "--nologo", f"--accept=pipe,name={pipe};urp;"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    desktop = None
    try:
        ctx = connect(pipe)
        desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        url = uno.systemPathToFileUrl(os.path.abspath(book))
        doc = desktop.loadComponentFromURL(url, "_blank", 0, (prop("Hidden", True),))
        out = type_into(doc, ctx, sheet_name, key, json.loads(typed_json))
        doc.storeToURL(url, (prop("FilterName", "Calc MS Excel 2007 XML"), prop("Overwrite", True)))
        doc.close(True)
        print(json.dumps(out, ensure_ascii=False))
    finally:
        if desktop is not None:
            with contextlib.suppress(Exception):  # the bridge goes away as LibreOffice quits
                desktop.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
