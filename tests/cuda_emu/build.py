"""Compile CUDA kernel source as host C++ against ``include/cuda_emu.h``, one shared library per module.

``build(code, options, name_expressions)`` takes what ``cupy.RawModule`` is given: the ``.cu`` text, NVRTC
options (only ``-I`` and ``-std`` matter here) and the template instantiations the host code will ask for
(``"igemm_fwd<float>"``). It returns the path of a library exporting, for each name expression ``i``,
``emu_kernel_name(i)``, ``emu_kernel_signature(i)`` (its parameter types as C names), ``emu_kernel_max_threads(i)``
(``__launch_bounds__``, else 1024) and ``emu_kernel_launch(i, grid, block, args, order, seed, err, err_len)``.

The source and the headers of its ``-I`` folders are rewritten so that each ``__shared__`` declaration becomes a
static array registered with the emulator (``emu::shared``), which fills it with NaN before every block. Lines
are kept, so compiler messages, sanitizer reports and the barrier line numbers name the original ``.cu`` lines.

Libraries are cached under ``$LUMEN_CUDA_EMU_CACHE`` (default ``~/.cache/lumen-cuda-emu``) by a hash of
everything that goes into them; ``LUMEN_CUDA_EMU_SANITIZE=address`` (or ``thread``) builds AddressSanitizer (ThreadSanitizer) variants.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

INCLUDE = Path(__file__).resolve().parent / "include"

FLAGS = ("-std=c++17", "-fPIC", "-shared", "-fvisibility=hidden", "-fno-gnu-unique")
OPTIMISE = {"": ("-O2",), "address": ("-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer"),
            "thread": ("-O1", "-g", "-fsanitize=thread")}

_SHARED_RE = re.compile(r"(\bextern\s+)?\b__shared__\s+([^;{}]*);")
_DECLARATOR_RE = re.compile(r"^(?P<type>.*?[\w>*&\s])\s*\b(?P<decl>[A-Za-z_]\w*\s*(?:\[[^\]]*\]\s*)*)$", re.S)
_BOUNDS_RE = re.compile(r"__launch_bounds__\s*\(([^()]*(?:\([^()]*\)[^()]*)*)\)\s*(\w+)\s*\(")


class BuildError(RuntimeError):
    """g++ rejected the rewritten source (the message holds its output)."""


def sanitizer() -> str:
    mode = os.environ.get("LUMEN_CUDA_EMU_SANITIZE", "")
    if mode not in OPTIMISE:
        raise ValueError(f"LUMEN_CUDA_EMU_SANITIZE must be one of {sorted(OPTIMISE)}, got {mode!r}")
    return mode


def cache_dir() -> Path:
    return Path(os.environ.get("LUMEN_CUDA_EMU_CACHE", Path.home() / ".cache" / "lumen-cuda-emu"))


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "[(<"
        depth -= ch in "])>"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def _rewrite_declaration(match: re.Match) -> str:
    extern, body = match.groups()
    if extern:
        raise BuildError(f"dynamic shared memory is not emulated: {match.group(0)!r}")
    first, *rest = _split_top_level(body)
    m = _DECLARATOR_RE.match(first.strip())
    if m is None:
        raise BuildError(f"cannot parse the __shared__ declaration {match.group(0)!r}")
    names = [re.match(r"\s*([A-Za-z_]\w*)", d).group(1) for d in [m.group("decl"), *rest]]
    registrations = " ".join(f"::emu::shared(&{n}, sizeof {n});" for n in names)
    # One line, so that the line numbers after it stay those of the original source.
    return f"static {body.strip()}; {registrations}"


def rewrite_shared(source: str) -> str:
    """``__shared__ T a[n], b[n];`` -> ``static T a[n], b[n]; ::emu::shared(&a, ...); ...`` (same line)."""
    return _SHARED_RE.sub(_rewrite_declaration, source)


def _include_dirs(options) -> list[Path]:
    dirs = []
    for opt in options:
        if opt.startswith("-I"):
            dirs.append(Path(opt[2:]))
        elif not opt.startswith("-std="):
            raise BuildError(f"NVRTC option {opt!r} has no meaning to the emulator")
    return dirs


def _source_name(code: str, include_dirs) -> str:
    """The file the code was read from, when one of the include folders holds it (for messages)."""
    for d in include_dirs:
        for p in sorted(d.glob("*.cu")):
            if p.read_text() == code:
                return str(p)
    return "kernel.cu"


def _launchers(code: str, name_expressions) -> str:
    bounds = {name: expr for expr, name in _BOUNDS_RE.findall(code)}
    n = len(name_expressions)
    names = ", ".join(f'"{e}"' for e in name_expressions)
    sigs = ", ".join(f"::emu::signature(&{e})" for e in name_expressions)
    limits = ", ".join(f"(int)({bounds.get(e.split('<')[0], '1024')})" for e in name_expressions)
    cases = "\n".join(f"        case {i}: return ::emu::launch(&{e}, grid, block, args, order, seed, err, err_len);"
                      for i, e in enumerate(name_expressions))
    export = '__attribute__((visibility("default")))'
    return f"""
#line 1 "<emulator launchers>"
static const char* const emu_names[{n}] = {{{names}}};
static const int emu_limits[{n}] = {{{limits}}};
extern "C" {{
{export} int emu_kernel_count() {{ return {n}; }}
{export} const char* emu_kernel_name(int i) {{ return emu_names[i]; }}
{export} int emu_kernel_max_threads(int i) {{ return emu_limits[i]; }}
{export} const char* emu_kernel_signature(int i) {{
    static const std::string sigs[{n}] = {{{sigs}}};
    return sigs[i].c_str();
}}
{export} int emu_kernel_launch(int i, const unsigned* grid, const unsigned* block, void** args, int order,
                                unsigned long long seed, char* err, int err_len) {{
    switch (i) {{
{cases}
    }}
    return -1;
}}
}}
"""


def _compiler() -> str:
    cxx = os.environ.get("CXX") or shutil.which("g++")
    if cxx is None:
        raise BuildError("the CUDA emulator needs g++ (set CXX to another C++17 compiler)")
    return cxx


def build(code: str, options=(), name_expressions=()) -> Path:
    """The cached library for this module (compiled on first request); BuildError if g++ fails."""
    if not name_expressions:
        raise BuildError("the emulator builds only the kernels named in name_expressions, and none were given")
    include_dirs = _include_dirs(options)
    mode = sanitizer()
    source = (f'#line 1 "{_source_name(code, include_dirs)}"\n' + rewrite_shared(code)
              + _launchers(code, list(name_expressions)))
    headers = {d: {p.name: rewrite_shared(p.read_text()) for p in sorted(d.iterdir())
                   if p.suffix in (".cuh", ".h", ".hpp")} for d in include_dirs}
    cxx = _compiler()
    flags = (*FLAGS, *OPTIMISE[mode])
    digest = hashlib.sha256()
    for part in (source, repr(sorted((str(k), sorted(v.items())) for k, v in headers.items())), repr(flags), cxx,
                 *((INCLUDE / f).read_text() for f in sorted(os.listdir(INCLUDE)))):
        digest.update(part.encode())
        digest.update(b"\0")
    out = cache_dir() / f"{digest.hexdigest()[:24]}{'-' + mode if mode else ''}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        tmp = Path(tmp)
        inc_flags = [f"-I{INCLUDE}"]
        for k, (d, files) in enumerate(headers.items()):
            rewritten = tmp / f"inc{k}"
            rewritten.mkdir()
            for name, text in files.items():
                (rewritten / name).write_text(f'#line 1 "{d / name}"\n{text}')
            inc_flags.append(f"-I{rewritten}")
        cpp = tmp / "module.cpp"
        cpp.write_text(source)
        lib = tmp / "module.so"
        proc = subprocess.run([cxx, *flags, "-include", "cuda_emu.h", *inc_flags, "-o", str(lib), str(cpp)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"g++ failed on {_source_name(code, include_dirs)} for {list(name_expressions)}:\n"
                             f"{proc.stderr}")
        os.replace(lib, out)  # atomic: a concurrent build of the same module writes the same bytes
    return out
