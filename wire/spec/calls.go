// Package spec is THE description of the PKCS #11 function list: one entry
// per C_ function, in the order of v3.0's CK_FUNCTION_LIST_3_0 (the 68 of
// v2.40's CK_FUNCTION_LIST first, IDs 1-68; v3.0's 24 after them). The
// generator (wire/internal/gen) renders the wire messages, the Backend
// interface, the call descriptors and the module's C exports from it, so
// adding a function is one entry here.
//
// A C prototype cannot say whether a pointer is an input array, a two-call
// output buffer or a handle to map; each argument's Kind says so.
package spec

// Kind is how one C argument (or a pointer+length pair) travels.
type Kind int

const (
	ULong         Kind = iota // a CK_ULONG-like scalar input (flags, user type, mechanism type)
	Slot                      // CK_SLOT_ID input (routed by the broker)
	Bool                      // CK_BBOOL input
	Session                   // CK_SESSION_HANDLE input (virtual on the wire)
	Object                    // CK_OBJECT_HANDLE input (virtual on the wire)
	BytesIn                   // pointer + CK_ULONG length
	PinIn                     // CK_UTF8CHAR_PTR + length; redacted in logs; NULL allowed
	LabelIn                   // CK_UTF8CHAR_PTR to 32 blank-padded bytes
	AttrsIn                   // CK_ATTRIBUTE_PTR + count, values typed on the wire
	AttrsQuery                // C_GetAttributeValue template: types out, typed values or per-attribute errors back
	MechIn                    // CK_MECHANISM_PTR, parameter typed on the wire
	BytesOut                  // two-call output buffer: pointer + CK_ULONG_PTR length
	BytesOutFixed             // output buffer of a caller-given length (C_GenerateRandom)
	ULongListOut              // two-call CK_ULONG array (slot list, mechanism list)
	ObjectListOut             // C_FindObjects: handle array, max count, count out
	SessionOut                // CK_SESSION_HANDLE_PTR
	ObjectOut                 // CK_OBJECT_HANDLE_PTR
	ULongOut                  // CK_ULONG_PTR
	SlotOut                   // CK_SLOT_ID_PTR
	StructOut                 // CK_INFO_PTR and friends; Struct names the wire type
	Ignored                   // not sent (pApplication, Notify, pReserved)
	InterfacesOut             // the backend's CK_INTERFACE list (names, versions, flags)
	MsgParam                  // a message function's pParameter + length: typed by the session's message mechanism, its outputs (IV, tag) sent back
	BytesOutRaw               // two-call output passed through as the application made it: its buffer's capacity (or NULL) goes to the vendor
)

// Version2 is the number of v2.40 functions: IDs above it are v3.0's.
const Version2 = 68

// Arg is one argument. Kinds that take two C parameters (pointer and
// length) name both.
type Arg struct {
	Kind     Kind
	Name     string // C parameter name: pData, hSession, ...
	CType    string // C type of that parameter
	LenName  string // second C parameter, if any
	LenCType string
	Struct   string // StructOut: the wire struct (Info, SlotInfo, ...)
}

// Func is one PKCS #11 function.
type Func struct {
	ID     int    // position in CK_FUNCTION_LIST, from 1; also the wire call ID
	Name   string // C_Sign
	Args   []Arg
	Module string // "" generated; "special": module export hand-written; "local": answered in C
	Family string // operation family: an Init of a family with a kept result answers CKR_OPERATION_ACTIVE
	Hook   bool   // the module calls a hand-written after<Name> on CKR_OK
	// ByList: a module answers differently through its v3.0 list (NSS's
	// softoken: cryptokiVersion, the v3.0 mechanism flags), so the
	// request says which list the application called through.
	ByList bool
}

func sess() Arg                 { return Arg{Kind: Session, Name: "hSession", CType: "CK_SESSION_HANDLE"} }
func slot() Arg                 { return Arg{Kind: Slot, Name: "slotID", CType: "CK_SLOT_ID"} }
func ulong(n, t string) Arg     { return Arg{Kind: ULong, Name: n, CType: t} }
func obj(n string) Arg          { return Arg{Kind: Object, Name: n, CType: "CK_OBJECT_HANDLE"} }
func mech() Arg                 { return Arg{Kind: MechIn, Name: "pMechanism", CType: "CK_MECHANISM_PTR"} }
func objOut(n string) Arg       { return Arg{Kind: ObjectOut, Name: n, CType: "CK_OBJECT_HANDLE_PTR"} }
func ignored(n, t string) Arg   { return Arg{Kind: Ignored, Name: n, CType: t} }
func structOut(s, t string) Arg { return Arg{Kind: StructOut, Name: "pInfo", CType: t, Struct: s} }

func in(p, l string) Arg {
	return Arg{Kind: BytesIn, Name: p, CType: "CK_BYTE_PTR", LenName: l, LenCType: "CK_ULONG"}
}
func out(p, l string) Arg {
	return Arg{Kind: BytesOut, Name: p, CType: "CK_BYTE_PTR", LenName: l, LenCType: "CK_ULONG_PTR"}
}
func pin(p, l string) Arg {
	return Arg{Kind: PinIn, Name: p, CType: "CK_UTF8CHAR_PTR", LenName: l, LenCType: "CK_ULONG"}
}
func msgParam() Arg {
	return Arg{Kind: MsgParam, Name: "pParameter", CType: "CK_VOID_PTR", LenName: "ulParameterLen", LenCType: "CK_ULONG"}
}
func rawOut(p, l string) Arg {
	return Arg{Kind: BytesOutRaw, Name: p, CType: "CK_BYTE_PTR", LenName: l, LenCType: "CK_ULONG_PTR"}
}
func attrs(p, l string) Arg {
	return Arg{Kind: AttrsIn, Name: p, CType: "CK_ATTRIBUTE_PTR", LenName: l, LenCType: "CK_ULONG"}
}

// A builds an argument list.
func A(args ...Arg) []Arg { return args }

// Funcs is the table. IDs are the CK_FUNCTION_LIST positions and never change.
var Funcs = []Func{
	{ID: 1, Name: "C_Initialize", Args: A(ignored("pInitArgs", "CK_VOID_PTR")), Module: "special"},
	{ID: 2, Name: "C_Finalize", Args: A(ignored("pReserved", "CK_VOID_PTR")), Module: "special"},
	{ID: 3, Name: "C_GetInfo", Args: A(Arg{Kind: StructOut, Name: "pInfo", CType: "CK_INFO_PTR", Struct: "Info"}), ByList: true},
	{ID: 4, Name: "C_GetFunctionList", Args: A(ignored("ppFunctionList", "CK_FUNCTION_LIST_PTR_PTR")), Module: "local"},
	{ID: 5, Name: "C_GetSlotList", Args: A(Arg{Kind: Bool, Name: "tokenPresent", CType: "CK_BBOOL"},
		Arg{Kind: ULongListOut, Name: "pSlotList", CType: "CK_SLOT_ID_PTR", LenName: "pulCount", LenCType: "CK_ULONG_PTR"})},
	{ID: 6, Name: "C_GetSlotInfo", Args: A(slot(), structOut("SlotInfo", "CK_SLOT_INFO_PTR"))},
	{ID: 7, Name: "C_GetTokenInfo", Args: A(slot(), structOut("TokenInfo", "CK_TOKEN_INFO_PTR"))},
	{ID: 8, Name: "C_GetMechanismList", Args: A(slot(),
		Arg{Kind: ULongListOut, Name: "pMechanismList", CType: "CK_MECHANISM_TYPE_PTR", LenName: "pulCount", LenCType: "CK_ULONG_PTR"})},
	{ID: 9, Name: "C_GetMechanismInfo", Args: A(slot(), ulong("mechType", "CK_MECHANISM_TYPE"), structOut("MechanismInfo", "CK_MECHANISM_INFO_PTR")), ByList: true},
	{ID: 10, Name: "C_InitToken", Args: A(slot(), pin("pPin", "ulPinLen"), Arg{Kind: LabelIn, Name: "pLabel", CType: "CK_UTF8CHAR_PTR"})},
	{ID: 11, Name: "C_InitPIN", Args: A(sess(), pin("pPin", "ulPinLen"))},
	{ID: 12, Name: "C_SetPIN", Args: A(sess(), pin("pOldPin", "ulOldLen"), pin("pNewPin", "ulNewLen"))},
	{ID: 13, Name: "C_OpenSession", Args: A(slot(), ulong("flags", "CK_FLAGS"), ignored("pApplication", "CK_VOID_PTR"),
		ignored("Notify", "CK_NOTIFY"), Arg{Kind: SessionOut, Name: "phSession", CType: "CK_SESSION_HANDLE_PTR"}), Hook: true},
	{ID: 14, Name: "C_CloseSession", Args: A(sess()), Hook: true},
	{ID: 15, Name: "C_CloseAllSessions", Args: A(slot()), Hook: true},
	{ID: 16, Name: "C_GetSessionInfo", Args: A(sess(), structOut("SessionInfo", "CK_SESSION_INFO_PTR"))},
	{ID: 17, Name: "C_GetOperationState", Args: A(sess(), out("pOperationState", "pulOperationStateLen"))},
	{ID: 18, Name: "C_SetOperationState", Args: A(sess(), in("pOperationState", "ulOperationStateLen"),
		obj("hEncryptionKey"), obj("hAuthenticationKey"))},
	{ID: 19, Name: "C_Login", Args: A(sess(), ulong("userType", "CK_USER_TYPE"), pin("pPin", "ulPinLen"))},
	{ID: 20, Name: "C_Logout", Args: A(sess())},
	{ID: 21, Name: "C_CreateObject", Args: A(sess(), attrs("pTemplate", "ulCount"), objOut("phObject"))},
	{ID: 22, Name: "C_CopyObject", Args: A(sess(), obj("hObject"), attrs("pTemplate", "ulCount"), objOut("phNewObject"))},
	{ID: 23, Name: "C_DestroyObject", Args: A(sess(), obj("hObject"))},
	{ID: 24, Name: "C_GetObjectSize", Args: A(sess(), obj("hObject"), Arg{Kind: ULongOut, Name: "pulSize", CType: "CK_ULONG_PTR"})},
	{ID: 25, Name: "C_GetAttributeValue", Args: A(sess(), obj("hObject"), Arg{Kind: AttrsQuery, Name: "pTemplate", CType: "CK_ATTRIBUTE_PTR", LenName: "ulCount", LenCType: "CK_ULONG"}), Module: "special"},
	{ID: 26, Name: "C_SetAttributeValue", Args: A(sess(), obj("hObject"), attrs("pTemplate", "ulCount"))},
	{ID: 27, Name: "C_FindObjectsInit", Args: A(sess(), attrs("pTemplate", "ulCount"))},
	{ID: 28, Name: "C_FindObjects", Args: A(sess(), Arg{Kind: ObjectListOut, Name: "phObject", CType: "CK_OBJECT_HANDLE_PTR",
		LenName: "ulMaxObjectCount", LenCType: "CK_ULONG"}, Arg{Kind: Ignored, Name: "pulObjectCount", CType: "CK_ULONG_PTR"})},
	{ID: 29, Name: "C_FindObjectsFinal", Args: A(sess())},
	{ID: 30, Name: "C_EncryptInit", Args: A(sess(), mech(), obj("hKey")), Family: "Encrypt"},
	{ID: 31, Name: "C_Encrypt", Args: A(sess(), in("pData", "ulDataLen"), out("pEncryptedData", "pulEncryptedDataLen")), Family: "Encrypt"},
	{ID: 32, Name: "C_EncryptUpdate", Args: A(sess(), in("pPart", "ulPartLen"), out("pEncryptedPart", "pulEncryptedPartLen")), Family: "Encrypt"},
	{ID: 33, Name: "C_EncryptFinal", Args: A(sess(), out("pLastEncryptedPart", "pulLastEncryptedPartLen")), Family: "Encrypt"},
	{ID: 34, Name: "C_DecryptInit", Args: A(sess(), mech(), obj("hKey")), Family: "Decrypt"},
	{ID: 35, Name: "C_Decrypt", Args: A(sess(), in("pEncryptedData", "ulEncryptedDataLen"), out("pData", "pulDataLen")), Family: "Decrypt"},
	{ID: 36, Name: "C_DecryptUpdate", Args: A(sess(), in("pEncryptedPart", "ulEncryptedPartLen"), out("pPart", "pulPartLen")), Family: "Decrypt"},
	{ID: 37, Name: "C_DecryptFinal", Args: A(sess(), out("pLastPart", "pulLastPartLen")), Family: "Decrypt"},
	{ID: 38, Name: "C_DigestInit", Args: A(sess(), mech()), Family: "Digest"},
	{ID: 39, Name: "C_Digest", Args: A(sess(), in("pData", "ulDataLen"), out("pDigest", "pulDigestLen")), Family: "Digest"},
	{ID: 40, Name: "C_DigestUpdate", Args: A(sess(), in("pPart", "ulPartLen")), Family: "Digest"},
	{ID: 41, Name: "C_DigestKey", Args: A(sess(), obj("hKey")), Family: "Digest"},
	{ID: 42, Name: "C_DigestFinal", Args: A(sess(), out("pDigest", "pulDigestLen")), Family: "Digest"},
	{ID: 43, Name: "C_SignInit", Args: A(sess(), mech(), obj("hKey")), Family: "Sign"},
	{ID: 44, Name: "C_Sign", Args: A(sess(), in("pData", "ulDataLen"), out("pSignature", "pulSignatureLen")), Family: "Sign"},
	{ID: 45, Name: "C_SignUpdate", Args: A(sess(), in("pPart", "ulPartLen")), Family: "Sign"},
	{ID: 46, Name: "C_SignFinal", Args: A(sess(), out("pSignature", "pulSignatureLen")), Family: "Sign"},
	{ID: 47, Name: "C_SignRecoverInit", Args: A(sess(), mech(), obj("hKey")), Family: "SignRecover"},
	{ID: 48, Name: "C_SignRecover", Args: A(sess(), in("pData", "ulDataLen"), out("pSignature", "pulSignatureLen")), Family: "SignRecover"},
	{ID: 49, Name: "C_VerifyInit", Args: A(sess(), mech(), obj("hKey")), Family: "Verify"},
	{ID: 50, Name: "C_Verify", Args: A(sess(), in("pData", "ulDataLen"), in("pSignature", "ulSignatureLen")), Family: "Verify"},
	{ID: 51, Name: "C_VerifyUpdate", Args: A(sess(), in("pPart", "ulPartLen")), Family: "Verify"},
	{ID: 52, Name: "C_VerifyFinal", Args: A(sess(), in("pSignature", "ulSignatureLen")), Family: "Verify"},
	{ID: 53, Name: "C_VerifyRecoverInit", Args: A(sess(), mech(), obj("hKey")), Family: "VerifyRecover"},
	{ID: 54, Name: "C_VerifyRecover", Args: A(sess(), in("pSignature", "ulSignatureLen"), out("pData", "pulDataLen")), Family: "VerifyRecover"},
	{ID: 55, Name: "C_DigestEncryptUpdate", Args: A(sess(), in("pPart", "ulPartLen"), out("pEncryptedPart", "pulEncryptedPartLen")), Family: "Encrypt"},
	{ID: 56, Name: "C_DecryptDigestUpdate", Args: A(sess(), in("pEncryptedPart", "ulEncryptedPartLen"), out("pPart", "pulPartLen")), Family: "Decrypt"},
	{ID: 57, Name: "C_SignEncryptUpdate", Args: A(sess(), in("pPart", "ulPartLen"), out("pEncryptedPart", "pulEncryptedPartLen")), Family: "Encrypt"},
	{ID: 58, Name: "C_DecryptVerifyUpdate", Args: A(sess(), in("pEncryptedPart", "ulEncryptedPartLen"), out("pPart", "pulPartLen")), Family: "Decrypt"},
	{ID: 59, Name: "C_GenerateKey", Args: A(sess(), mech(), attrs("pTemplate", "ulCount"), objOut("phKey"))},
	{ID: 60, Name: "C_GenerateKeyPair", Args: A(sess(), mech(), attrs("pPublicKeyTemplate", "ulPublicKeyAttributeCount"),
		attrs("pPrivateKeyTemplate", "ulPrivateKeyAttributeCount"), objOut("phPublicKey"), objOut("phPrivateKey"))},
	{ID: 61, Name: "C_WrapKey", Args: A(sess(), mech(), obj("hWrappingKey"), obj("hKey"), out("pWrappedKey", "pulWrappedKeyLen"))},
	{ID: 62, Name: "C_UnwrapKey", Args: A(sess(), mech(), obj("hUnwrappingKey"), in("pWrappedKey", "ulWrappedKeyLen"),
		attrs("pTemplate", "ulAttributeCount"), objOut("phKey"))},
	{ID: 63, Name: "C_DeriveKey", Args: A(sess(), mech(), obj("hBaseKey"), attrs("pTemplate", "ulAttributeCount"), objOut("phKey"))},
	{ID: 64, Name: "C_SeedRandom", Args: A(sess(), in("pSeed", "ulSeedLen"))},
	{ID: 65, Name: "C_GenerateRandom", Args: A(sess(), Arg{Kind: BytesOutFixed, Name: "pRandomData", CType: "CK_BYTE_PTR",
		LenName: "ulRandomLen", LenCType: "CK_ULONG"})},
	{ID: 66, Name: "C_GetFunctionStatus", Args: A(sess())},
	{ID: 67, Name: "C_CancelFunction", Args: A(sess())},
	{ID: 68, Name: "C_WaitForSlotEvent", Args: A(ulong("flags", "CK_FLAGS"), Arg{Kind: SlotOut, Name: "pSlot", CType: "CK_SLOT_ID_PTR"},
		ignored("pReserved", "CK_VOID_PTR"))},

	// v3.0. C_GetInterface is answered by the module from C_GetInterfaceList's.
	{ID: 69, Name: "C_GetInterfaceList", Args: A(Arg{Kind: InterfacesOut, Name: "pInterfacesList", CType: "CK_INTERFACE_PTR",
		LenName: "pulCount", LenCType: "CK_ULONG_PTR"}), Module: "local"},
	{ID: 70, Name: "C_GetInterface", Args: A(ignored("pInterfaceName", "CK_UTF8CHAR_PTR"), ignored("pVersion", "CK_VERSION_PTR"),
		ignored("ppInterface", "CK_INTERFACE_PTR_PTR"), ignored("flags", "CK_FLAGS")), Module: "local"},
	{ID: 71, Name: "C_LoginUser", Args: A(sess(), ulong("userType", "CK_USER_TYPE"), pin("pPin", "ulPinLen"),
		Arg{Kind: BytesIn, Name: "pUsername", CType: "CK_UTF8CHAR_PTR", LenName: "ulUsernameLen", LenCType: "CK_ULONG"})},
	{ID: 72, Name: "C_SessionCancel", Args: A(sess(), ulong("flags", "CK_FLAGS")), Hook: true},
	{ID: 73, Name: "C_MessageEncryptInit", Args: A(sess(), mech(), obj("hKey")), Family: "MessageEncrypt"},
	{ID: 74, Name: "C_EncryptMessage", Args: A(sess(), msgParam(), in("pAssociatedData", "ulAssociatedDataLen"),
		in("pPlaintext", "ulPlaintextLen"), rawOut("pCiphertext", "pulCiphertextLen")), Family: "MessageEncrypt"},
	{ID: 75, Name: "C_EncryptMessageBegin", Args: A(sess(), msgParam(), in("pAssociatedData", "ulAssociatedDataLen")), Family: "MessageEncrypt"},
	{ID: 76, Name: "C_EncryptMessageNext", Args: A(sess(), msgParam(), in("pPlaintextPart", "ulPlaintextPartLen"),
		rawOut("pCiphertextPart", "pulCiphertextPartLen"), ulong("flags", "CK_FLAGS")), Family: "MessageEncrypt"},
	{ID: 77, Name: "C_MessageEncryptFinal", Args: A(sess()), Family: "MessageEncrypt"},
	{ID: 78, Name: "C_MessageDecryptInit", Args: A(sess(), mech(), obj("hKey")), Family: "MessageDecrypt"},
	{ID: 79, Name: "C_DecryptMessage", Args: A(sess(), msgParam(), in("pAssociatedData", "ulAssociatedDataLen"),
		in("pCiphertext", "ulCiphertextLen"), rawOut("pPlaintext", "pulPlaintextLen")), Family: "MessageDecrypt"},
	{ID: 80, Name: "C_DecryptMessageBegin", Args: A(sess(), msgParam(), in("pAssociatedData", "ulAssociatedDataLen")), Family: "MessageDecrypt"},
	{ID: 81, Name: "C_DecryptMessageNext", Args: A(sess(), msgParam(), in("pCiphertextPart", "ulCiphertextPartLen"),
		rawOut("pPlaintextPart", "pulPlaintextPartLen"), ulong("flags", "CK_FLAGS")), Family: "MessageDecrypt"},
	{ID: 82, Name: "C_MessageDecryptFinal", Args: A(sess()), Family: "MessageDecrypt"},
	{ID: 83, Name: "C_MessageSignInit", Args: A(sess(), mech(), obj("hKey")), Family: "MessageSign"},
	{ID: 84, Name: "C_SignMessage", Args: A(sess(), msgParam(), in("pData", "ulDataLen"), rawOut("pSignature", "pulSignatureLen")), Family: "MessageSign"},
	{ID: 85, Name: "C_SignMessageBegin", Args: A(sess(), msgParam()), Family: "MessageSign"},
	{ID: 86, Name: "C_SignMessageNext", Args: A(sess(), msgParam(), in("pData", "ulDataLen"), rawOut("pSignature", "pulSignatureLen")), Family: "MessageSign"},
	{ID: 87, Name: "C_MessageSignFinal", Args: A(sess()), Family: "MessageSign"},
	{ID: 88, Name: "C_MessageVerifyInit", Args: A(sess(), mech(), obj("hKey")), Family: "MessageVerify"},
	{ID: 89, Name: "C_VerifyMessage", Args: A(sess(), msgParam(), in("pData", "ulDataLen"), in("pSignature", "ulSignatureLen")), Family: "MessageVerify"},
	{ID: 90, Name: "C_VerifyMessageBegin", Args: A(sess(), msgParam()), Family: "MessageVerify"},
	{ID: 91, Name: "C_VerifyMessageNext", Args: A(sess(), msgParam(), in("pData", "ulDataLen"), in("pSignature", "ulSignatureLen")), Family: "MessageVerify"},
	{ID: 92, Name: "C_MessageVerifyFinal", Args: A(sess()), Family: "MessageVerify"},
}
