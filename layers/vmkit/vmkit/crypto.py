"""KMS envelope encryption for credentials (DESIGN §4).

Each secret gets its own data key from KMS `GenerateDataKey`; the payload is sealed
with AES-256-GCM under a fresh 96-bit nonce. The same encryption context —
workspace, record and kind — is given to KMS (so CloudTrail shows what each decrypt
was for, and KMS refuses a mismatch) and used as the GCM associated data (so a
ciphertext copied onto another record, or altered in any bit, fails to open).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import boto3
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vmkit.errors import DecryptionFailed
from vmkit.models import EncryptedValue


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


class Sealer:
    def __init__(self, key_id: str, kms_client: Any = None):
        self.key_id = key_id
        self.kms = kms_client or boto3.client("kms")

    @staticmethod
    def context(workspace_id: str, record_id: str, kind: str) -> dict[str, str]:
        return {"workspace": workspace_id, "record": record_id, "kind": kind}

    def seal(
        self, plaintext: str, *, workspace_id: str, record_id: str, kind: str
    ) -> EncryptedValue:
        context = self.context(workspace_id, record_id, kind)
        data_key = self.kms.generate_data_key(
            KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=context
        )
        nonce = os.urandom(12)
        ciphertext = AESGCM(data_key["Plaintext"]).encrypt(
            nonce, plaintext.encode(), self._aad(context)
        )
        return EncryptedValue(
            edk=_b64(data_key["CiphertextBlob"]), nonce=_b64(nonce), ct=_b64(ciphertext)
        )

    def open(self, sealed: EncryptedValue, *, workspace_id: str, record_id: str, kind: str) -> str:
        context = self.context(workspace_id, record_id, kind)
        failure = DecryptionFailed(
            f"the {kind.replace('_', ' ')} stored on {record_id} could not be decrypted: it was "
            "altered or does not belong to this record; store it again",
        )
        try:
            data_key = self.kms.decrypt(
                CiphertextBlob=_unb64(sealed.edk), EncryptionContext=context, KeyId=self.key_id
            )["Plaintext"]
            plaintext = AESGCM(data_key).decrypt(
                _unb64(sealed.nonce), _unb64(sealed.ct), self._aad(context)
            )
        except (InvalidTag, ValueError) as exc:
            raise failure from exc
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {
                "InvalidCiphertextException",
                "AccessDeniedException",
            }:
                raise failure from exc
            raise
        return plaintext.decode()

    @staticmethod
    def _aad(context: dict[str, str]) -> bytes:
        return json.dumps(context, sort_keys=True, separators=(",", ":")).encode()
