"""Pydantic models at the API's edges: what requests must look like and what responses carry.

Hex values are validated by pattern here, so malformed input is a 422 before any
route code runs. The proof bundle is the exception: ``POST /verify`` parses it with
``ledger.bundle.parse_bundle``, the parser ``credit-ledger verify`` uses, and documents
it with that module's ``BUNDLE_JSON_SCHEMA``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SIGNATURE_PATTERN = r"^0x[0-9a-fA-F]{130}$"
RAW_TX_PATTERN = r"^0x[0-9a-fA-F]+$"

Uint64 = Annotated[int, Field(ge=0, le=2**64 - 1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- sign-in -------------------------------------------------------------------


class NonceResponse(BaseModel):
    """A fresh single-use nonce and the values the sign-in message must carry."""

    nonce: str = Field(examples=["k3R9fQ2xLmPa"])
    expiresAt: str = Field(description="ISO-8601 UTC time after which the nonce is refused")
    domain: str = Field(description="The EIP-4361 domain the message must name")
    chainId: int | None = Field(description="The chain id the message must name (null if the node is down)")
    uri: str = Field(description="A suitable URI for the message")


class LoginRequest(_Strict):
    """An EIP-4361 message, exactly as signed, and its EIP-191 signature."""

    message: str = Field(
        min_length=1,
        max_length=4096,
        examples=[
            "127.0.0.1:8000 wants you to sign in with your Ethereum account:\n"
            "0xBcd4042DE499D14e55001CcbB24a551F3b954096\n\nSign in to credit-ledger\n\n"
            "URI: http://127.0.0.1:8000\nVersion: 1\nChain ID: 31337\nNonce: k3R9fQ2xLmPa\n"
            "Issued At: 2024-05-01T00:00:00.000Z"
        ],
    )
    signature: str = Field(pattern=SIGNATURE_PATTERN, examples=["0x" + "11" * 65])


class LoginResponse(BaseModel):
    token: str = Field(description="Bearer token for the Authorization header")
    tokenType: Literal["bearer"] = "bearer"
    expiresAt: str
    address: str
    roles: list[str] = Field(description="On-chain roles held at sign-in (re-checked on every request)")
    merchantKey: str | None = Field(description="The merchant key bound to the account, if any")


# -- proof bundle verification -------------------------------------------------


class CheckModel(BaseModel):
    name: str
    ok: bool
    detail: str


class VerificationResponse(BaseModel):
    """Each check and the verdict: ``ok`` only if every check passed."""

    ok: bool
    checks: list[CheckModel]


# -- merchant -------------------------------------------------------------------


class MerchantMe(BaseModel):
    merchantKey: str
    account: str
    kind: Literal["merchant", "farmer", "virtual"]
    status: Literal["unregistered", "active", "suspended"]


class Names(BaseModel):
    zh: list[str]
    en: list[str]


class ReasonModel(BaseModel):
    code: int
    zh: str
    en: str


class DecisionModel(BaseModel):
    """One decision as a merchant sees it, with the bundle that proves it."""

    round: int
    score: int
    limitCny: int
    productMask: int
    products: Names
    reasons: list[ReasonModel]
    modelVersion: int
    policyVersion: int
    leafHash: str
    prevLeafHash: str
    anchored: bool = Field(description="False while the round is built but not yet anchored (no bundle yet)")
    bundle: dict[str, Any] | None = Field(description="The proof bundle (`POST /verify` or `credit-ledger verify`)")


class HistoryResponse(BaseModel):
    merchantKey: str
    decisions: list[DecisionModel]


class DisputePrepareRequest(_Strict):
    round: Uint64
    reason: str = Field(min_length=1, max_length=1000, examples=["My March sales were not counted"])


class UnsignedTransaction(BaseModel):
    """A legacy transaction for the merchant's wallet to sign (``eth_account`` ``sign_transaction``)."""

    to: str
    data: str
    chainId: int
    nonce: int
    gas: int
    gasPrice: int
    value: int = 0
    from_: str = Field(alias="from")

    model_config = ConfigDict(populate_by_name=True)


class DisputePrepareResponse(BaseModel):
    transaction: UnsignedTransaction
    leafHash: str
    round: int


class DisputeSubmitRequest(_Strict):
    signedTransaction: str = Field(
        pattern=RAW_TX_PATTERN,
        max_length=32768,
        description="The signed raw transaction, 0x-hex",
        examples=["0xf8a980843b9aca00..."],
    )


class DisputeModel(BaseModel):
    disputeId: int | None = Field(description="The contract's dispute id; null while the dispute is pending")
    round: int
    merchantKey: str
    leafHash: str
    reason: str
    status: str = Field(
        description='"open", "upheld" or "rejected"; "pending" while its relayed transaction is not mined',
        examples=["open", "pending"],
    )
    filedTx: str | None
