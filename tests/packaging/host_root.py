#!/usr/bin/env python3
"""Makes a clean Debian root from this machine's installed packages, without network.

usage: host_root.py ROOT PACKAGE...

ROOT receives Debian's essential packages and the given packages with every package they depend on
(Depends and Pre-Depends, recursively), nothing else: the files each of those packages installed on
this machine (dpkg's file lists), their maintainer scripts and a dpkg database listing exactly those
packages. Installing a package into ROOT with dpkg then checks its declared dependencies, and an
executable run there (chroot) finds only the libraries its package depends on: a library that a
package forgets to depend on is missing there even though it is installed on this machine.

What a bootstrap makes besides the packages' files is made here the same way: the users and groups
of base-passwd's master files, the merged-/usr links, the alternatives whose choice is in ROOT,
dpkg's diversions, the device nodes of /dev, the dynamic linker's cache (ldconfig in ROOT) and the
PAM stacks (pam-auth-update in ROOT).
"""
import os
import re
import shutil
import stat
import subprocess
import sys

DPKG = "/var/lib/dpkg"


def read_status():
    """The installed packages: name -> (fields, stanza text, the name dpkg files its info under)."""
    with open(f"{DPKG}/status", encoding="utf-8") as f:
        stanzas = f.read().split("\n\n")
    packages = {}
    for text in stanzas:
        text = text.strip("\n")
        fields = dict(re.findall(r"^([A-Za-z0-9-]+):[ \t]*(.*(?:\n[ \t].*)*)", text, re.M))
        if fields.get("Status") != "install ok installed":
            continue
        name, arch = fields["Package"], fields.get("Architecture", "all")
        if name in packages and arch != native_arch():  # a foreign-architecture twin
            continue
        info_name = f"{name}:{arch}" if fields.get("Multi-Arch") == "same" else name
        packages[name] = (fields, text, info_name)
    return packages


def native_arch():
    if not hasattr(native_arch, "value"):
        native_arch.value = subprocess.check_output(["dpkg", "--print-architecture"], text=True).strip()
    return native_arch.value


def providers(packages):
    provided = {}
    for name, (fields, _, _) in packages.items():
        for item in fields.get("Provides", "").split(","):
            if item.strip():
                provided.setdefault(re.split(r"[ (:]", item.strip())[0], name)
    return provided


def closure(packages, roots):
    """The roots and everything they depend on, each alternative group satisfied by its first
    installed member; an unsatisfied dependency is an error (the machine lacks a package)."""
    provided = providers(packages)

    def satisfy(group, needed_by):
        names = [re.split(r"[ (:]", alt.strip())[0] for alt in group.split("|")]
        chosen = next((n for n in names if n in packages), None) or \
            next((provided[n] for n in names if n in provided), None)
        if chosen is None:
            sys.exit(f"host_root: nothing installed here satisfies '{group.strip()}' ({needed_by});"
                     " scripts/install-deps.sh installs what the packages depend on")
        return chosen

    wanted, todo = set(), [satisfy(name, "asked for") for name in roots]
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        fields = packages[name][0]
        relations = ",".join(fields.get(key, "") for key in ("Pre-Depends", "Depends"))
        todo.extend(satisfy(group, name) for group in relations.split(",") if group.strip())
    return wanted


def canonical(path):
    """The path with its directories resolved (merged /usr: /bin/sh is /usr/bin/sh), not its last part."""
    head, tail = os.path.split(path)
    return os.path.join(os.path.realpath(head), tail) if tail else os.path.realpath(head)


def package_paths(packages, wanted):
    """Every path the wanted packages installed (and the ones their diversions moved), existing here."""
    paths = set()
    for name in wanted:
        with open(f"{DPKG}/info/{packages[name][2]}.list", encoding="utf-8") as f:
            paths.update(line.rstrip("\n") for line in f if line.strip())
    for _, diverted_to, owner in diversions(wanted):
        paths.add(diverted_to)
    return sorted({canonical(p) for p in paths if os.path.lexists(p)})


def diversions(wanted):
    """(from, to, package) of the diversions made by the wanted packages."""
    with open(f"{DPKG}/diversions", encoding="utf-8") as f:
        lines = f.read().splitlines()
    triples = [tuple(lines[i:i + 3]) for i in range(0, len(lines) - 2, 3)]
    return [t for t in triples if t[2] in wanted]


def copy_tree(paths, root):
    """Copies the paths (no recursion) with owners, modes and links, through tar."""
    listing = "\0".join(p.lstrip("/") for p in paths).encode()
    archive = subprocess.Popen(["tar", "-C", "/", "--no-recursion", "--null", "-T", "-", "-cf", "-"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    unpack = subprocess.Popen(["tar", "-C", root, "-xpf", "-"], stdin=archive.stdout)
    archive.stdout.close()
    archive.stdin.write(listing)
    archive.stdin.close()
    if archive.wait() != 0 or unpack.wait() != 0:
        sys.exit("host_root: copying the packages' files failed")


def write_dpkg_database(packages, wanted, root):
    db = f"{root}{DPKG}"
    for sub in ("info", "updates", "triggers", "alternatives"):
        os.makedirs(f"{db}/{sub}", exist_ok=True)
    with open(f"{db}/status", "w", encoding="utf-8") as f:
        f.write("".join(packages[name][1] + "\n\n" for name in sorted(wanted)))
    with open(f"{db}/diversions", "w", encoding="utf-8") as f:
        f.write("".join("\n".join(t) + "\n" for t in diversions(wanted)))
    for empty in ("available", "statoverride"):
        open(f"{db}/{empty}", "w", encoding="utf-8").close()
    if os.path.exists(f"{DPKG}/arch"):
        shutil.copy2(f"{DPKG}/arch", f"{db}/arch")
    info_names = {packages[name][2] for name in wanted}
    for entry in os.listdir(f"{DPKG}/info"):
        if entry.rsplit(".", 1)[0] in info_names:
            shutil.copy2(f"{DPKG}/info/{entry}", f"{db}/info/{entry}")


def copy_alternatives(root):
    """The alternatives whose chosen file is in ROOT: their link, /etc/alternatives entry and state."""
    for name in os.listdir(f"{DPKG}/alternatives"):
        choice = f"/etc/alternatives/{name}"
        with open(f"{DPKG}/alternatives/{name}", encoding="utf-8") as f:
            lines = f.read().splitlines()
        if len(lines) < 2 or not os.path.islink(choice) or \
                not os.path.lexists(root + canonical(os.readlink(choice))):
            continue
        links = [choice, lines[1]] if os.path.lexists(lines[1]) else [choice]
        copy_tree([canonical(p) for p in links], root)
        shutil.copy2(f"{DPKG}/alternatives/{name}", f"{root}{DPKG}/alternatives/{name}")


def write_accounts(root):
    """/etc/passwd, group, shadow and gshadow as base-passwd's postinst makes them."""
    masters = "/usr/share/base-passwd"
    shutil.copy2(f"{masters}/passwd.master", f"{root}/etc/passwd")
    shutil.copy2(f"{masters}/group.master", f"{root}/etc/group")
    with open(f"{masters}/passwd.master", encoding="utf-8") as f:
        users = [line.split(":")[0] for line in f if line.strip()]
    with open(f"{masters}/group.master", encoding="utf-8") as f:
        groups = [line.split(":")[0] for line in f if line.strip()]
    for path, lines in ((f"{root}/etc/shadow", [f"{u}:*:19000:0:99999:7:::" for u in users]),
                        (f"{root}/etc/gshadow", [f"{g}:*::" for g in groups])):
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o640)
        shutil.chown(path, "root", "shadow")  # gid 42 here and in base-passwd's master


def make_devices(root):
    """The character devices programs expect; without the right to make them, empty /dev."""
    os.makedirs(f"{root}/dev", exist_ok=True)
    for name, minor in (("null", 3), ("zero", 5), ("full", 7), ("random", 8), ("urandom", 9)):
        try:
            os.mknod(f"{root}/dev/{name}", 0o666 | stat.S_IFCHR, os.makedev(1, minor))
            os.chmod(f"{root}/dev/{name}", 0o666)
        except (PermissionError, FileExistsError):
            pass


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.split("\n\n")[1])
    root, roots = sys.argv[1], sys.argv[2:]
    packages = read_status()
    essential = [name for name, (fields, _, _) in packages.items() if fields.get("Essential") == "yes"]
    wanted = closure(packages, essential + roots)
    os.makedirs(root, exist_ok=True)
    merged_usr = [p for p in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32") if os.path.islink(p)]
    copy_tree(merged_usr + package_paths(packages, wanted), root)
    write_dpkg_database(packages, wanted, root)
    copy_alternatives(root)
    write_accounts(root)
    make_devices(root)
    for tmp in ("tmp", "var/tmp"):
        os.makedirs(f"{root}/{tmp}", exist_ok=True)
        os.chmod(f"{root}/{tmp}", 0o1777)
    subprocess.run(["chroot", root, "ldconfig"], check=True)
    # The PAM stacks (/etc/pam.d/common-*) are written by libpam-runtime's postinst, not shipped:
    # without them adduser's chfn aborts.
    if os.path.exists(f"{root}/usr/sbin/pam-auth-update"):
        subprocess.run(["chroot", root, "pam-auth-update", "--package", "--force"], check=True)
    print(f"{len(wanted)} packages: {' '.join(sorted(wanted))}")


if __name__ == "__main__":
    main()
