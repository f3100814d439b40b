"""``mgrid keys ...``: the keyring from the command line (DESIGN.md section 6).

    keys add NAME [--recover] [--words 12|15|18|21|24] [--hd-path PATH]
    keys list
    keys show NAME [--address | --pubkey]
    keys delete NAME [--yes]
    keys rename OLD NEW
    keys export NAME [--export-passphrase-file FILE]
    keys export NAME --unsafe --unarmored-hex [--yes]
    keys import NAME FILE [--export-passphrase-file FILE]

``keys add`` makes a key from a new BIP-39 mnemonic (hd.py) and shows the
words once: on stderr after a warning in text mode (so that redirecting
stdout never files them away by accident), as the ``mnemonic`` field in
JSON mode. They are not stored; with them ``keys add NAME --recover`` makes
the same key again anywhere (the words are asked on a terminal without
echo, or read from the first line of stdin).

``keys export`` prints the key as ASCII armor encrypted under an export
passphrase of its own (asked twice, or the first line of
``--export-passphrase-file``); ``keys import`` reads it back (FILE ``-``:
stdin) and stores it with this keyring's backend. ``--unsafe
--unarmored-hex`` prints the raw private key (the 32-byte ed25519 seed, hex)
instead: both flags and a confirmation (``--yes`` off a terminal) are
needed, and nothing else in the wallet ever prints a private key.

The ``file`` backend asks the keyring passphrase on the terminal, or reads
``--passphrase-file``; the ``test`` backend stores keys unencrypted and
says so on every command that writes or uses one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clients.mgrid import hd
from clients.mgrid.keyring import KeyExists, KeyInfo, Keyring, Passphrase
from clients.mgrid.session import Declined, ExitCode, Session, UsageError, leaf

MNEMONIC_WARNING = (
    "**Important**: write this mnemonic down and keep it somewhere safe. It is the only way "
    "to recover the account if the key file or its passphrase is lost, and anyone who has "
    "it controls the account. It will not be shown again."
)


def add_commands(keys: Any) -> None:
    """``keys`` subcommands, under the ``keys`` group ``keys``."""
    p = leaf(keys, "add", cmd_keys_add, "create a key from a new mnemonic, or --recover one")
    p.add_argument("name")
    p.add_argument(
        "--recover",
        action="store_true",
        help="restore the key of a BIP-39 mnemonic (asked on the terminal, or stdin's first line)",
    )
    p.add_argument(
        "--words",
        type=int,
        choices=hd.MNEMONIC_WORDS,
        default=hd.DEFAULT_MNEMONIC_WORDS,
        help=f"length of a new mnemonic (default {hd.DEFAULT_MNEMONIC_WORDS})",
    )
    p.add_argument(
        "--hd-path",
        default=hd.DEFAULT_HD_PATH,
        metavar="PATH",
        help=f"SLIP-0010 path, hardened levels only (default {hd.DEFAULT_HD_PATH})",
    )
    p = leaf(keys, "show", cmd_keys_show, "show a key's address and public key")
    p.add_argument("name")
    only = p.add_mutually_exclusive_group()
    only.add_argument("--address", "-a", action="store_true", help="print only the address")
    only.add_argument("--pubkey", "-p", action="store_true", help="print only the public key (hex)")
    leaf(keys, "list", cmd_keys_list, "list the keys")
    p = leaf(keys, "delete", cmd_keys_delete, "delete a key for good")
    p.add_argument("name")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p = leaf(keys, "rename", cmd_keys_rename, "give a key another name")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p = leaf(keys, "export", cmd_keys_export, "print a key as passphrase-encrypted ASCII armor")
    p.add_argument("name")
    _add_export_passphrase_file(p)
    p.add_argument(
        "--unsafe", action="store_true", help="with --unarmored-hex: allow an unencrypted export"
    )
    p.add_argument(
        "--unarmored-hex",
        action="store_true",
        help="print the raw private key (hex) instead of armor; needs --unsafe",
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before an unsafe export")
    p = leaf(keys, "import", cmd_keys_import, "store a key exported with keys export")
    p.add_argument("name")
    p.add_argument("file", metavar="FILE", help="the armored key ('-': stdin)")
    _add_export_passphrase_file(p)


def _add_export_passphrase_file(p: Any) -> None:
    p.add_argument(
        "--export-passphrase-file",
        metavar="FILE",
        help="read the export passphrase from the first line of FILE (default: ask)",
    )


# -- output ---------------------------------------------------------------------------------


def key_json(info: KeyInfo) -> dict[str, str]:
    return {"name": info.name, "address": info.address, "pub_key": info.pub_key.hex()}


def key_text(info: KeyInfo) -> str:
    return f"name: {info.name}\naddress: {info.address}\npub_key: {info.pub_key.hex()}"


def _backup_note(s: Session, keyring: Keyring, info: KeyInfo, *, mnemonic: bool) -> None:
    protected = " and its passphrase" if s.args.keyring_backend == "file" else ""
    words = ", or the mnemonic," if mnemonic else ""
    print(
        f"note: the key is stored in {keyring.directory}/{info.name}.key; back up that file"
        f"{protected}{words} to keep the account",
        file=s.env.stderr,
    )


# -- commands -------------------------------------------------------------------------------


def cmd_keys_add(s: Session) -> int:
    a = s.args
    s.warn_if_test_backend()
    keyring = s.keyring(new_key=True)
    if keyring.exists(a.name):  # before asking for words or passphrases
        raise KeyExists(f"a key named {a.name!r} already exists in {keyring.directory}")
    if a.recover:
        info = keyring.recover(a.name, _read_mnemonic(s), hd_path=a.hd_path)
        s.emit(key_json(info), key_text(info))
        _backup_note(s, keyring, info, mnemonic=True)
        return ExitCode.OK
    info, mnemonic = keyring.create(a.name, words=a.words, hd_path=a.hd_path)
    s.emit({**key_json(info), "mnemonic": mnemonic}, key_text(info))
    if not s.json:  # stderr: a redirected stdout never files the words away by accident
        print(f"\n{MNEMONIC_WARNING}\n\n{mnemonic}\n", file=s.env.stderr)
    _backup_note(s, keyring, info, mnemonic=True)
    return ExitCode.OK


def _read_mnemonic(s: Session) -> str:
    if s.env.interactive:
        words = s.env.getpass("Enter your BIP-39 mnemonic (input is hidden): ")
    else:
        words = s.env.stdin.readline()
    if not words.strip():
        raise UsageError("--recover: no mnemonic given (type it, or pipe it on stdin)")
    return words


def cmd_keys_show(s: Session) -> int:
    a = s.args
    info = s.keyring().get(a.name)
    if a.address:
        text = info.address
    elif a.pubkey:
        text = info.pub_key.hex()
    else:
        text = key_text(info)
    s.emit(key_json(info), text)
    return ExitCode.OK


def cmd_keys_list(s: Session) -> int:
    keyring = s.keyring()
    infos = keyring.list()
    if infos:
        width = max(len(i.name) for i in infos)
        text = "\n".join(f"{i.name:<{width}}  {i.address}" for i in infos)
    else:
        text = f"no keys in {keyring.directory} (create one with: mgrid keys add NAME)"
    s.emit([key_json(i) for i in infos], text)
    return ExitCode.OK


def cmd_keys_delete(s: Session) -> int:
    keyring = s.keyring()
    info = keyring.get(s.args.name)
    if not s.args.yes:
        if not s.env.interactive:
            raise UsageError(f"refusing to delete key {info.name!r} without --yes")
        prompt = f"delete key {info.name!r} ({info.address}) from {keyring.directory} for good?"
        if not s.env.confirm(prompt):
            raise Declined("key not deleted")
    keyring.delete(info.name)
    s.emit({**key_json(info), "deleted": True}, f"deleted key {info.name!r} ({info.address})")
    return ExitCode.OK


def cmd_keys_rename(s: Session) -> int:
    info = s.keyring().rename(s.args.old, s.args.new)
    s.emit(
        {**key_json(info), "old_name": s.args.old},
        f"renamed key {s.args.old!r} to {info.name!r} ({info.address})",
    )
    return ExitCode.OK


def cmd_keys_export(s: Session) -> int:
    a = s.args
    if a.unarmored_hex or a.unsafe:
        return _export_unsafe(s)
    s.warn_if_test_backend()
    keyring = s.keyring()
    info = keyring.get(a.name)
    armor = keyring.export_armor(a.name, _export_passphrase(s, confirm=True))
    s.emit({**key_json(info), "armor": armor}, armor.rstrip("\n"))
    print(
        "note: the armor is encrypted with the export passphrase; both are needed to import it",
        file=s.env.stderr,
    )
    return ExitCode.OK


def _export_unsafe(s: Session) -> int:
    a = s.args
    if not (a.unsafe and a.unarmored_hex):
        raise UsageError("an unencrypted export needs both --unsafe and --unarmored-hex")
    keyring = s.keyring()
    info = keyring.get(a.name)
    if not a.yes:
        if not s.env.interactive:
            raise UsageError(f"refusing to print the private key of {info.name!r} without --yes")
        question = (
            f"print the UNENCRYPTED private key of {info.name!r} ({info.address})? "
            "Anyone who sees it controls the account"
        )
        if not s.env.confirm(question):
            raise Declined("private key not exported")
    seed_hex = keyring.private_key(a.name).seed.hex()
    s.warn(f"the private key of {info.name!r} is printed unencrypted below; do not share it")
    s.emit({**key_json(info), "private_key": seed_hex}, seed_hex)
    return ExitCode.OK


def cmd_keys_import(s: Session) -> int:
    a = s.args
    s.warn_if_test_backend()
    keyring = s.keyring(new_key=True)
    if keyring.exists(a.name):
        raise KeyExists(f"a key named {a.name!r} already exists in {keyring.directory}")
    armor = _read_text(s, a.file, "FILE")
    info = keyring.import_armor(a.name, armor, _export_passphrase(s, confirm=False))
    s.emit(key_json(info), key_text(info))
    _backup_note(s, keyring, info, mnemonic=False)
    return ExitCode.OK


# -- passphrases and files ------------------------------------------------------------------


def _export_passphrase(s: Session, *, confirm: bool) -> Passphrase:
    """The export passphrase: from --export-passphrase-file, else asked (twice to choose one)."""
    return s.passphrase(
        s.args.export_passphrase_file,
        flag="--export-passphrase-file",
        prompt="export passphrase",
        missing="an export passphrase is needed",
        mismatch="the two export passphrases differ; nothing was exported" if confirm else None,
    )


def _read_text(s: Session, path: str, what: str) -> str:
    if path == "-":
        return s.env.stdin.read()
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{what}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{what}: {path} is not text") from None
    if not text:
        raise UsageError(f"{what}: {path} is empty")
    return text
