"""BIP-39 and SLIP-0010 (clients/mgrid/hd.py) against their published test vectors."""

from __future__ import annotations

import pytest

from app.crypto import PrivateKey
from clients.mgrid import hd

H = hd.HARDENED

# SLIP-0010, "Test vector 1 for ed25519" and "Test vector 2 for ed25519":
# (seed, [(path, chain code, private key), ...]). Data from the specification.
SLIP10_VECTORS = [
    (
        "000102030405060708090a0b0c0d0e0f",
        [
            (
                "m",
                "90046a93de5380a72b5e45010748567d5ea02bbf6522f979e05c0d8d8ca9fffb",
                "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7",
            ),
            (
                "m/0'",
                "8b59aa11380b624e81507a27fedda59fea6d0b779a778918a2fd3590e16e9c69",
                "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3",
            ),
            (
                "m/0'/1'",
                "a320425f77d1b5c2505a6b1b27382b37368ee640e3557c315416801243552f14",
                "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2",
            ),
            (
                "m/0'/1'/2'",
                "2e69929e00b5ab250f49c3fb1c12f252de4fed2c1db88387094a0f8c4c9ccd6c",
                "92a5b23c0b8a99e37d07df3fb9966917f5d06e02ddbd909c7e184371463e9fc9",
            ),
            (
                "m/0'/1'/2'/2'",
                "8f6d87f93d750e0efccda017d662a1b31a266e4a6f5993b15f5c1f07f74dd5cc",
                "30d1dc7e5fc04c31219ab25a27ae00b50f6fd66622f6e9c913253d6511d1e662",
            ),
            (
                "m/0'/1'/2'/2'/1000000000'",
                "68789923a0cac2cd5a29172a475fe9e0fb14cd6adb5ad98a3fa70333e7afa230",
                "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793",
            ),
        ],
    ),
    (
        "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a2"
        "9f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542",
        [
            (
                "m",
                "ef70a74db9c3a5af931b5fe73ed8e1a53464133654fd55e7a66f8570b8e33c3b",
                "171cb88b1b3c1db25add599712e36245d75bc65a1a5c9e18d76f9f2b1eab4012",
            ),
            (
                "m/0'",
                "0b78a3226f915c082bf118f83618a618ab6dec793752624cbeb622acb562862d",
                "1559eb2bbec5790b0c65d8693e4d0875b1747f4970ae8b650486ed7470845635",
            ),
            (
                "m/0'/2147483647'",
                "138f0b2551bcafeca6ff2aa88ba8ed0ed8de070841f0c4ef0165df8181eaad7f",
                "ea4f5bfe8694d8bb74b7b59404632fd5968b774ed545e810de9c32a4fb4192f4",
            ),
            (
                "m/0'/2147483647'/1'",
                "73bd9fff1cfbde33a1b846c27085f711c0fe2d66fd32e139d3ebc28e5a4a6b90",
                "3757c7577170179c7868353ada796c839135b3d30554bbb74a4b1e4a5a58505c",
            ),
            (
                "m/0'/2147483647'/1'/2147483646'",
                "0902fe8a29f9140480a00ef244bd183e8a13288e4412d8389d140aac1794825a",
                "5837736c89570de861ebc173b1086da4f505d4adb387c6a1b1342d5e4ac9ec72",
            ),
            (
                "m/0'/2147483647'/1'/2147483646'/2'",
                "5d70af781f3a37b829f0d060924d5e960bdc02e85423494afc0b1a41bbe196d4",
                "551d333177df541ad876a60ea71f00447931c0a9da16f227c11ea080d7391b8d",
            ),
        ],
    ),
]
SLIP10_CASES = [(seed, *case) for seed, cases in SLIP10_VECTORS for case in cases]

ABANDON_24 = " ".join(["abandon"] * 23 + ["art"])
ABANDON_12 = " ".join(["abandon"] * 11 + ["about"])


@pytest.mark.parametrize(("seed", "path", "chain_code", "private_key"), SLIP10_CASES)
def test_slip10_ed25519_vectors(seed: str, path: str, chain_code: str, private_key: str) -> None:
    key, code = hd.slip10_master(bytes.fromhex(seed))
    for index in hd.parse_path(path):
        key, code = hd.slip10_child(key, code, index)
    assert (key.hex(), code.hex()) == (private_key, chain_code)
    assert hd.derive_ed25519(bytes.fromhex(seed), path).hex() == private_key


@pytest.mark.parametrize(
    ("entropy_words", "passphrase", "seed"),
    [
        # BIP-39's reference vectors (passphrase "TREZOR"): entropy 00..00, 128 and 256 bits.
        (
            ABANDON_12,
            "TREZOR",
            "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e5349553"
            "1f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
        ),
        (
            ABANDON_24,
            "TREZOR",
            "bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd30971"
            "70af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8",
        ),
    ],
)
def test_bip39_vectors(entropy_words: str, passphrase: str, seed: str) -> None:
    assert hd.mnemonic_to_seed(entropy_words, passphrase).hex() == seed


def test_mnemonic_is_normalised() -> None:
    messy = "  " + ABANDON_24.upper().replace(" ", "\n  ", 3) + "\t"
    assert hd.normalize_mnemonic(messy) == ABANDON_24
    assert hd.mnemonic_to_seed(messy) == hd.mnemonic_to_seed(ABANDON_24)


@pytest.mark.parametrize("words", hd.MNEMONIC_WORDS)
def test_new_mnemonics_are_valid_and_distinct(words: int) -> None:
    a, b = hd.new_mnemonic(words), hd.new_mnemonic(words)
    assert len(a.split()) == words and a != b
    assert hd.normalize_mnemonic(a) == a


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abandon " * 11, "got 11"),
        (ABANDON_24.replace("art", "artx"), "word 24 ('artx')"),
        (ABANDON_24.replace("art", "zoo"), "checksum"),
        (" ".join(["abandon"] * 24), "checksum"),
        ("", "got 0"),
    ],
)
def test_invalid_mnemonics(text: str, message: str) -> None:
    with pytest.raises(hd.MnemonicError, match=message.replace("(", r"\(").replace(")", r"\)")):
        hd.normalize_mnemonic(text)


@pytest.mark.parametrize(
    ("path", "indexes"),
    [
        ("m", []),
        ("m/44'/118'/0'/0'/0'", [44 | H, 118 | H, H, H, H]),
        ("m/44h/118H/1'", [44 | H, 118 | H, 1 | H]),
        ("m/2147483647'", [2147483647 | H]),
    ],
)
def test_parse_and_format_path(path: str, indexes: list[int]) -> None:
    assert hd.parse_path(path) == indexes
    assert hd.parse_path(hd.format_path(indexes)) == indexes


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("44'/118'", "must start with m/"),
        ("m/44'/118'/0'/0/0", "not hardened"),
        ("m/44'/x'", "not an index"),
        ("m/2147483648'", "below 2\\^31"),
        ("m//1'", "not an index"),
    ],
)
def test_bad_paths(path: str, message: str) -> None:
    with pytest.raises(hd.HDPathError, match=message):
        hd.parse_path(path)


def test_default_path_key_of_a_known_mnemonic() -> None:
    """A regression pin (computed with this code, which the vectors above check): the
    account of ABANDON_24 at m/44'/118'/0'/0'/0' must never change, or every
    recovered wallet would open a different account."""
    key = PrivateKey(hd.key_seed_from_mnemonic(ABANDON_24))
    assert key.seed == hd.derive_ed25519(hd.mnemonic_to_seed(ABANDON_24), hd.DEFAULT_HD_PATH)
    assert key.address == PINNED_ABANDON_24_ADDRESS
    other_account = hd.key_seed_from_mnemonic(ABANDON_24, "m/44'/118'/1'/0'/0'")
    assert other_account != key.seed


PINNED_ABANDON_24_ADDRESS = "mg1pywgxt6s0n9qmv2vqgd8vpvcw73j2t26esjld8"
