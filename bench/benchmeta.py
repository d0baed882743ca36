"""What bench/all.sh and bench/scale.sh record beside their rows: the
machine (CPUs, CPU model, kernel, memory, load average at the end), the date
and the commit. Imported by their inline Python (sys.path has bench/).
"""
import datetime
import os
import platform
import subprocess


def cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def git(*args):
    try:
        return subprocess.check_output(["git"] + list(args), text=True, stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine():
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu(),
            "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "loadavg_at_end": open("/proc/loadavg").read().split()[:3]}


def meta():
    """The date, commit, dirty flag and machine of a results file."""
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "machine": machine()}


def describe(m):
    """One line naming a machine() for people."""
    return "%d CPUs, %s, kernel %s, %s GiB; load average at the end %s" % (
        m["nproc"], m["cpu"], m["kernel"], m["mem_gib"], " ".join(m["loadavg_at_end"]))


def write_json(path, obj):
    """Writes obj as JSON to path atomically (a temporary file, then rename)."""
    import json
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, path)
