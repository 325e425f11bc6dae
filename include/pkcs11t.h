/*
 * pkcs11t.h - PKCS #11 types, structures and constants for gop11.
 *
 * Written for the gop11 project from the facts (names, values and
 * structure layouts) of PKCS #11 v2.40, plus the v3.0 additions gop11
 * carries (interfaces, message-based functions and their parameters,
 * the v3.0 mechanism parameters).  Include <pkcs11.h>, not this file: pkcs11.h
 * sets the platform macros (CK_PTR and friends) this file relies on.
 *
 * Conventions kept so that the Go generator (wire/internal/genconst)
 * can read this file:
 *   - one "#define NAME VALUE" per line for every numeric constant;
 *   - VALUE is a number with a UL suffix, another constant's name, or
 *     a parenthesised "|" or "~" expression of those;
 *   - an alias kept only for old code carries the comment
 *     "deprecated" on its line.
 */

#ifndef GOP11_PKCS11T_H
#define GOP11_PKCS11T_H 1

#define CRYPTOKI_VERSION_MAJOR          2
#define CRYPTOKI_VERSION_MINOR          40
#define CRYPTOKI_VERSION_AMENDMENT      0

/* ------------------------------------------------------------------
 * Base types
 * ------------------------------------------------------------------ */

typedef unsigned char   CK_BYTE;
typedef CK_BYTE         CK_CHAR;
typedef CK_BYTE         CK_UTF8CHAR;
typedef CK_BYTE         CK_BBOOL;
typedef unsigned long   CK_ULONG;
typedef long            CK_LONG;
typedef CK_ULONG        CK_FLAGS;

#define CK_FALSE        0
#define CK_TRUE         1
#ifndef CK_DISABLE_TRUE_FALSE
#  ifndef FALSE
#    define FALSE CK_FALSE
#  endif
#  ifndef TRUE
#    define TRUE CK_TRUE
#  endif
#endif

typedef CK_BYTE     CK_PTR CK_BYTE_PTR;
typedef CK_CHAR     CK_PTR CK_CHAR_PTR;
typedef CK_UTF8CHAR CK_PTR CK_UTF8CHAR_PTR;
typedef CK_ULONG    CK_PTR CK_ULONG_PTR;
typedef void        CK_PTR CK_VOID_PTR;
typedef CK_VOID_PTR CK_PTR CK_VOID_PTR_PTR;

/* (CK_ULONG)-1: "this field has no value" in the info structures. */
#define CK_UNAVAILABLE_INFORMATION      (~0UL)
#define CK_EFFECTIVELY_INFINITE         0x0UL
#define CK_INVALID_HANDLE               0x0UL

/* ------------------------------------------------------------------
 * Library, slot and token information
 * ------------------------------------------------------------------ */

typedef struct CK_VERSION {
	CK_BYTE major;
	CK_BYTE minor;
} CK_VERSION;
typedef CK_VERSION CK_PTR CK_VERSION_PTR;

typedef struct CK_INFO {
	CK_VERSION  cryptokiVersion;
	CK_UTF8CHAR manufacturerID[32];
	CK_FLAGS    flags;
	CK_UTF8CHAR libraryDescription[32];
	CK_VERSION  libraryVersion;
} CK_INFO;
typedef CK_INFO CK_PTR CK_INFO_PTR;

typedef CK_ULONG CK_NOTIFICATION;
#define CKN_SURRENDER                   0x0UL
#define CKN_OTP_CHANGED                 0x1UL

typedef CK_ULONG CK_SLOT_ID;
typedef CK_SLOT_ID CK_PTR CK_SLOT_ID_PTR;

typedef struct CK_SLOT_INFO {
	CK_UTF8CHAR slotDescription[64];
	CK_UTF8CHAR manufacturerID[32];
	CK_FLAGS    flags;
	CK_VERSION  hardwareVersion;
	CK_VERSION  firmwareVersion;
} CK_SLOT_INFO;
typedef CK_SLOT_INFO CK_PTR CK_SLOT_INFO_PTR;

/* CK_SLOT_INFO.flags */
#define CKF_TOKEN_PRESENT               0x00000001UL
#define CKF_REMOVABLE_DEVICE            0x00000002UL
#define CKF_HW_SLOT                     0x00000004UL

typedef struct CK_TOKEN_INFO {
	CK_UTF8CHAR label[32];
	CK_UTF8CHAR manufacturerID[32];
	CK_UTF8CHAR model[16];
	CK_CHAR     serialNumber[16];
	CK_FLAGS    flags;
	CK_ULONG    ulMaxSessionCount;
	CK_ULONG    ulSessionCount;
	CK_ULONG    ulMaxRwSessionCount;
	CK_ULONG    ulRwSessionCount;
	CK_ULONG    ulMaxPinLen;
	CK_ULONG    ulMinPinLen;
	CK_ULONG    ulTotalPublicMemory;
	CK_ULONG    ulFreePublicMemory;
	CK_ULONG    ulTotalPrivateMemory;
	CK_ULONG    ulFreePrivateMemory;
	CK_VERSION  hardwareVersion;
	CK_VERSION  firmwareVersion;
	CK_CHAR     utcTime[16];
} CK_TOKEN_INFO;
typedef CK_TOKEN_INFO CK_PTR CK_TOKEN_INFO_PTR;

/* CK_TOKEN_INFO.flags */
#define CKF_RNG                         0x00000001UL
#define CKF_WRITE_PROTECTED             0x00000002UL
#define CKF_LOGIN_REQUIRED              0x00000004UL
#define CKF_USER_PIN_INITIALIZED        0x00000008UL
#define CKF_RESTORE_KEY_NOT_NEEDED      0x00000020UL
#define CKF_CLOCK_ON_TOKEN              0x00000040UL
#define CKF_PROTECTED_AUTHENTICATION_PATH 0x00000100UL
#define CKF_DUAL_CRYPTO_OPERATIONS      0x00000200UL
#define CKF_TOKEN_INITIALIZED           0x00000400UL
#define CKF_SECONDARY_AUTHENTICATION    0x00000800UL
#define CKF_USER_PIN_COUNT_LOW          0x00010000UL
#define CKF_USER_PIN_FINAL_TRY          0x00020000UL
#define CKF_USER_PIN_LOCKED             0x00040000UL
#define CKF_USER_PIN_TO_BE_CHANGED      0x00080000UL
#define CKF_SO_PIN_COUNT_LOW            0x00100000UL
#define CKF_SO_PIN_FINAL_TRY            0x00200000UL
#define CKF_SO_PIN_LOCKED               0x00400000UL
#define CKF_SO_PIN_TO_BE_CHANGED        0x00800000UL
#define CKF_ERROR_STATE                 0x01000000UL

/* ------------------------------------------------------------------
 * Sessions and users
 * ------------------------------------------------------------------ */

typedef CK_ULONG CK_SESSION_HANDLE;
typedef CK_SESSION_HANDLE CK_PTR CK_SESSION_HANDLE_PTR;

typedef CK_ULONG CK_USER_TYPE;
#define CKU_SO                          0x0UL
#define CKU_USER                        0x1UL
#define CKU_CONTEXT_SPECIFIC            0x2UL

typedef CK_ULONG CK_STATE;
#define CKS_RO_PUBLIC_SESSION           0x0UL
#define CKS_RO_USER_FUNCTIONS           0x1UL
#define CKS_RW_PUBLIC_SESSION           0x2UL
#define CKS_RW_USER_FUNCTIONS           0x3UL
#define CKS_RW_SO_FUNCTIONS             0x4UL

typedef struct CK_SESSION_INFO {
	CK_SLOT_ID slotID;
	CK_STATE   state;
	CK_FLAGS   flags;
	CK_ULONG   ulDeviceError;
} CK_SESSION_INFO;
typedef CK_SESSION_INFO CK_PTR CK_SESSION_INFO_PTR;

/* CK_SESSION_INFO.flags and C_OpenSession flags */
#define CKF_RW_SESSION                  0x00000002UL
#define CKF_SERIAL_SESSION              0x00000004UL

/* ------------------------------------------------------------------
 * Objects: handles, classes, hardware features, key and certificate
 * types
 * ------------------------------------------------------------------ */

typedef CK_ULONG CK_OBJECT_HANDLE;
typedef CK_OBJECT_HANDLE CK_PTR CK_OBJECT_HANDLE_PTR;

typedef CK_ULONG CK_OBJECT_CLASS;
typedef CK_OBJECT_CLASS CK_PTR CK_OBJECT_CLASS_PTR;
#define CKO_DATA                        0x0UL
#define CKO_CERTIFICATE                 0x1UL
#define CKO_PUBLIC_KEY                  0x2UL
#define CKO_PRIVATE_KEY                 0x3UL
#define CKO_SECRET_KEY                  0x4UL
#define CKO_HW_FEATURE                  0x5UL
#define CKO_DOMAIN_PARAMETERS           0x6UL
#define CKO_MECHANISM                   0x7UL
#define CKO_OTP_KEY                     0x8UL
#define CKO_VENDOR_DEFINED              0x80000000UL

typedef CK_ULONG CK_HW_FEATURE_TYPE;
#define CKH_MONOTONIC_COUNTER           0x1UL
#define CKH_CLOCK                       0x2UL
#define CKH_USER_INTERFACE              0x3UL
#define CKH_VENDOR_DEFINED              0x80000000UL

typedef CK_ULONG CK_KEY_TYPE;
#define CKK_RSA                         0x00UL
#define CKK_DSA                         0x01UL
#define CKK_DH                          0x02UL
#define CKK_EC                          0x03UL
#define CKK_ECDSA                       CKK_EC /* deprecated */
#define CKK_X9_42_DH                    0x04UL
#define CKK_KEA                         0x05UL
#define CKK_GENERIC_SECRET              0x10UL
#define CKK_RC2                         0x11UL
#define CKK_RC4                         0x12UL
#define CKK_DES                         0x13UL
#define CKK_DES2                        0x14UL
#define CKK_DES3                        0x15UL
#define CKK_CAST                        0x16UL
#define CKK_CAST3                       0x17UL
#define CKK_CAST128                     0x18UL
#define CKK_CAST5                       CKK_CAST128 /* deprecated */
#define CKK_RC5                         0x19UL
#define CKK_IDEA                        0x1AUL
#define CKK_SKIPJACK                    0x1BUL
#define CKK_BATON                       0x1CUL
#define CKK_JUNIPER                     0x1DUL
#define CKK_CDMF                        0x1EUL
#define CKK_AES                         0x1FUL
#define CKK_BLOWFISH                    0x20UL
#define CKK_TWOFISH                     0x21UL
#define CKK_SECURID                     0x22UL
#define CKK_HOTP                        0x23UL
#define CKK_ACTI                        0x24UL
#define CKK_CAMELLIA                    0x25UL
#define CKK_ARIA                        0x26UL
#define CKK_MD5_HMAC                    0x27UL
#define CKK_SHA_1_HMAC                  0x28UL
#define CKK_RIPEMD128_HMAC              0x29UL
#define CKK_RIPEMD160_HMAC              0x2AUL
#define CKK_SHA256_HMAC                 0x2BUL
#define CKK_SHA384_HMAC                 0x2CUL
#define CKK_SHA512_HMAC                 0x2DUL
#define CKK_SHA224_HMAC                 0x2EUL
#define CKK_SEED                        0x2FUL
#define CKK_GOSTR3410                   0x30UL
#define CKK_GOSTR3411                   0x31UL
#define CKK_GOST28147                   0x32UL
#define CKK_SHA3_224_HMAC               0x33UL
#define CKK_SHA3_256_HMAC               0x34UL
#define CKK_SHA3_384_HMAC               0x35UL
#define CKK_SHA3_512_HMAC               0x36UL
/* v3.0: Edwards-curve keys (Ed25519, Ed448). */
#define CKK_EC_EDWARDS                  0x40UL
#define CKK_VENDOR_DEFINED              0x80000000UL

typedef CK_ULONG CK_CERTIFICATE_TYPE;
#define CKC_X_509                       0x0UL
#define CKC_X_509_ATTR_CERT             0x1UL
#define CKC_WTLS                        0x2UL
#define CKC_VENDOR_DEFINED              0x80000000UL

/* CKA_CERTIFICATE_CATEGORY values */
typedef CK_ULONG CK_CERTIFICATE_CATEGORY;
#define CK_CERTIFICATE_CATEGORY_UNSPECIFIED     0x0UL
#define CK_CERTIFICATE_CATEGORY_TOKEN_USER      0x1UL
#define CK_CERTIFICATE_CATEGORY_AUTHORITY       0x2UL
#define CK_CERTIFICATE_CATEGORY_OTHER_ENTITY    0x3UL

/* CKA_JAVA_MIDP_SECURITY_DOMAIN values */
typedef CK_ULONG CK_JAVA_MIDP_SECURITY_DOMAIN;
#define CK_SECURITY_DOMAIN_UNSPECIFIED  0x0UL
#define CK_SECURITY_DOMAIN_MANUFACTURER 0x1UL
#define CK_SECURITY_DOMAIN_OPERATOR     0x2UL
#define CK_SECURITY_DOMAIN_THIRD_PARTY  0x3UL

/* ------------------------------------------------------------------
 * Attributes
 * ------------------------------------------------------------------ */

/* Set in an attribute type whose value is itself a CK_ATTRIBUTE array. */
#define CKF_ARRAY_ATTRIBUTE             0x40000000UL

typedef CK_ULONG CK_ATTRIBUTE_TYPE;

/* common object attributes */
#define CKA_CLASS                       0x000UL
#define CKA_TOKEN                       0x001UL
#define CKA_PRIVATE                     0x002UL
#define CKA_LABEL                       0x003UL
#define CKA_APPLICATION                 0x010UL
#define CKA_VALUE                       0x011UL
#define CKA_OBJECT_ID                   0x012UL
/* certificates */
#define CKA_CERTIFICATE_TYPE            0x080UL
#define CKA_ISSUER                      0x081UL
#define CKA_SERIAL_NUMBER               0x082UL
#define CKA_AC_ISSUER                   0x083UL
#define CKA_OWNER                       0x084UL
#define CKA_ATTR_TYPES                  0x085UL
#define CKA_TRUSTED                     0x086UL
#define CKA_CERTIFICATE_CATEGORY        0x087UL
#define CKA_JAVA_MIDP_SECURITY_DOMAIN   0x088UL
#define CKA_URL                         0x089UL
#define CKA_HASH_OF_SUBJECT_PUBLIC_KEY  0x08AUL
#define CKA_HASH_OF_ISSUER_PUBLIC_KEY   0x08BUL
#define CKA_NAME_HASH_ALGORITHM         0x08CUL
#define CKA_CHECK_VALUE                 0x090UL
/* keys */
#define CKA_KEY_TYPE                    0x100UL
#define CKA_SUBJECT                     0x101UL
#define CKA_ID                          0x102UL
#define CKA_SENSITIVE                   0x103UL
#define CKA_ENCRYPT                     0x104UL
#define CKA_DECRYPT                     0x105UL
#define CKA_WRAP                        0x106UL
#define CKA_UNWRAP                      0x107UL
#define CKA_SIGN                        0x108UL
#define CKA_SIGN_RECOVER                0x109UL
#define CKA_VERIFY                      0x10AUL
#define CKA_VERIFY_RECOVER              0x10BUL
#define CKA_DERIVE                      0x10CUL
#define CKA_START_DATE                  0x110UL
#define CKA_END_DATE                    0x111UL
#define CKA_MODULUS                     0x120UL
#define CKA_MODULUS_BITS                0x121UL
#define CKA_PUBLIC_EXPONENT             0x122UL
#define CKA_PRIVATE_EXPONENT            0x123UL
#define CKA_PRIME_1                     0x124UL
#define CKA_PRIME_2                     0x125UL
#define CKA_EXPONENT_1                  0x126UL
#define CKA_EXPONENT_2                  0x127UL
#define CKA_COEFFICIENT                 0x128UL
#define CKA_PUBLIC_KEY_INFO             0x129UL
#define CKA_PRIME                       0x130UL
#define CKA_SUBPRIME                    0x131UL
#define CKA_BASE                        0x132UL
#define CKA_PRIME_BITS                  0x133UL
#define CKA_SUBPRIME_BITS               0x134UL
#define CKA_SUB_PRIME_BITS              CKA_SUBPRIME_BITS
#define CKA_VALUE_BITS                  0x160UL
#define CKA_VALUE_LEN                   0x161UL
#define CKA_EXTRACTABLE                 0x162UL
#define CKA_LOCAL                       0x163UL
#define CKA_NEVER_EXTRACTABLE           0x164UL
#define CKA_ALWAYS_SENSITIVE            0x165UL
#define CKA_KEY_GEN_MECHANISM           0x166UL
#define CKA_MODIFIABLE                  0x170UL
#define CKA_COPYABLE                    0x171UL
#define CKA_DESTROYABLE                 0x172UL
#define CKA_EC_PARAMS                   0x180UL
#define CKA_ECDSA_PARAMS                CKA_EC_PARAMS /* deprecated */
#define CKA_EC_POINT                    0x181UL
#define CKA_SECONDARY_AUTH              0x200UL /* deprecated */
#define CKA_AUTH_PIN_FLAGS              0x201UL /* deprecated */
#define CKA_ALWAYS_AUTHENTICATE         0x202UL
#define CKA_WRAP_WITH_TRUSTED           0x210UL
#define CKA_WRAP_TEMPLATE               (CKF_ARRAY_ATTRIBUTE | 0x211UL)
#define CKA_UNWRAP_TEMPLATE             (CKF_ARRAY_ATTRIBUTE | 0x212UL)
#define CKA_DERIVE_TEMPLATE             (CKF_ARRAY_ATTRIBUTE | 0x213UL)
/* one-time-password keys */
#define CKA_OTP_FORMAT                  0x220UL
#define CKA_OTP_LENGTH                  0x221UL
#define CKA_OTP_TIME_INTERVAL           0x222UL
#define CKA_OTP_USER_FRIENDLY_MODE      0x223UL
#define CKA_OTP_CHALLENGE_REQUIREMENT   0x224UL
#define CKA_OTP_TIME_REQUIREMENT        0x225UL
#define CKA_OTP_COUNTER_REQUIREMENT     0x226UL
#define CKA_OTP_PIN_REQUIREMENT         0x227UL
#define CKA_OTP_USER_IDENTIFIER         0x22AUL
#define CKA_OTP_SERVICE_IDENTIFIER      0x22BUL
#define CKA_OTP_SERVICE_LOGO            0x22CUL
#define CKA_OTP_SERVICE_LOGO_TYPE       0x22DUL
#define CKA_OTP_COUNTER                 0x22EUL
#define CKA_OTP_TIME                    0x22FUL
/* GOST */
#define CKA_GOSTR3410_PARAMS            0x250UL
#define CKA_GOSTR3411_PARAMS            0x251UL
#define CKA_GOST28147_PARAMS            0x252UL
/* hardware features */
#define CKA_HW_FEATURE_TYPE             0x300UL
#define CKA_RESET_ON_INIT               0x301UL
#define CKA_HAS_RESET                   0x302UL
#define CKA_PIXEL_X                     0x400UL
#define CKA_PIXEL_Y                     0x401UL
#define CKA_RESOLUTION                  0x402UL
#define CKA_CHAR_ROWS                   0x403UL
#define CKA_CHAR_COLUMNS                0x404UL
#define CKA_COLOR                       0x405UL
#define CKA_BITS_PER_PIXEL              0x406UL
#define CKA_CHAR_SETS                   0x480UL
#define CKA_ENCODING_METHODS            0x481UL
#define CKA_MIME_TYPES                  0x482UL
/* mechanism objects */
#define CKA_MECHANISM_TYPE              0x500UL
#define CKA_REQUIRED_CMS_ATTRIBUTES     0x501UL
#define CKA_DEFAULT_CMS_ATTRIBUTES      0x502UL
#define CKA_SUPPORTED_CMS_ATTRIBUTES    0x503UL
#define CKA_ALLOWED_MECHANISMS          (CKF_ARRAY_ATTRIBUTE | 0x600UL)
#define CKA_VENDOR_DEFINED              0x80000000UL

typedef struct CK_ATTRIBUTE {
	CK_ATTRIBUTE_TYPE type;
	CK_VOID_PTR       pValue;
	CK_ULONG          ulValueLen;
} CK_ATTRIBUTE;
typedef CK_ATTRIBUTE CK_PTR CK_ATTRIBUTE_PTR;

typedef struct CK_DATE {
	CK_CHAR year[4];
	CK_CHAR month[2];
	CK_CHAR day[2];
} CK_DATE;
typedef CK_DATE CK_PTR CK_DATE_PTR;

/* ------------------------------------------------------------------
 * Mechanisms
 * ------------------------------------------------------------------ */

typedef CK_ULONG CK_MECHANISM_TYPE;
typedef CK_MECHANISM_TYPE CK_PTR CK_MECHANISM_TYPE_PTR;

/* RSA */
#define CKM_RSA_PKCS_KEY_PAIR_GEN       0x0000UL
#define CKM_RSA_PKCS                    0x0001UL
#define CKM_RSA_9796                    0x0002UL
#define CKM_RSA_X_509                   0x0003UL
#define CKM_MD2_RSA_PKCS                0x0004UL
#define CKM_MD5_RSA_PKCS                0x0005UL
#define CKM_SHA1_RSA_PKCS               0x0006UL
#define CKM_RIPEMD128_RSA_PKCS          0x0007UL
#define CKM_RIPEMD160_RSA_PKCS          0x0008UL
#define CKM_RSA_PKCS_OAEP               0x0009UL
#define CKM_RSA_X9_31_KEY_PAIR_GEN      0x000AUL
#define CKM_RSA_X9_31                   0x000BUL
#define CKM_SHA1_RSA_X9_31              0x000CUL
#define CKM_RSA_PKCS_PSS                0x000DUL
#define CKM_SHA1_RSA_PKCS_PSS           0x000EUL
/* DSA */
#define CKM_DSA_KEY_PAIR_GEN            0x0010UL
#define CKM_DSA                         0x0011UL
#define CKM_DSA_SHA1                    0x0012UL
#define CKM_DSA_SHA224                  0x0013UL
#define CKM_DSA_SHA256                  0x0014UL
#define CKM_DSA_SHA384                  0x0015UL
#define CKM_DSA_SHA512                  0x0016UL
#define CKM_DSA_SHA3_224                0x0018UL
#define CKM_DSA_SHA3_256                0x0019UL
#define CKM_DSA_SHA3_384                0x001AUL
#define CKM_DSA_SHA3_512                0x001BUL
/* Diffie-Hellman */
#define CKM_DH_PKCS_KEY_PAIR_GEN        0x0020UL
#define CKM_DH_PKCS_DERIVE              0x0021UL
#define CKM_X9_42_DH_KEY_PAIR_GEN       0x0030UL
#define CKM_X9_42_DH_DERIVE             0x0031UL
#define CKM_X9_42_DH_HYBRID_DERIVE      0x0032UL
#define CKM_X9_42_MQV_DERIVE            0x0033UL
/* RSA with SHA-2 */
#define CKM_SHA256_RSA_PKCS             0x0040UL
#define CKM_SHA384_RSA_PKCS             0x0041UL
#define CKM_SHA512_RSA_PKCS             0x0042UL
#define CKM_SHA256_RSA_PKCS_PSS         0x0043UL
#define CKM_SHA384_RSA_PKCS_PSS         0x0044UL
#define CKM_SHA512_RSA_PKCS_PSS         0x0045UL
#define CKM_SHA224_RSA_PKCS             0x0046UL
#define CKM_SHA224_RSA_PKCS_PSS         0x0047UL
/* SHA-512/t */
#define CKM_SHA512_224                  0x0048UL
#define CKM_SHA512_224_HMAC             0x0049UL
#define CKM_SHA512_224_HMAC_GENERAL     0x004AUL
#define CKM_SHA512_224_KEY_DERIVATION   0x004BUL
#define CKM_SHA512_256                  0x004CUL
#define CKM_SHA512_256_HMAC             0x004DUL
#define CKM_SHA512_256_HMAC_GENERAL     0x004EUL
#define CKM_SHA512_256_KEY_DERIVATION   0x004FUL
#define CKM_SHA512_T                    0x0050UL
#define CKM_SHA512_T_HMAC               0x0051UL
#define CKM_SHA512_T_HMAC_GENERAL       0x0052UL
#define CKM_SHA512_T_KEY_DERIVATION     0x0053UL
/* RSA with SHA-3 */
#define CKM_SHA3_256_RSA_PKCS           0x0060UL
#define CKM_SHA3_384_RSA_PKCS           0x0061UL
#define CKM_SHA3_512_RSA_PKCS           0x0062UL
#define CKM_SHA3_256_RSA_PKCS_PSS       0x0063UL
#define CKM_SHA3_384_RSA_PKCS_PSS       0x0064UL
#define CKM_SHA3_512_RSA_PKCS_PSS       0x0065UL
#define CKM_SHA3_224_RSA_PKCS           0x0066UL
#define CKM_SHA3_224_RSA_PKCS_PSS       0x0067UL
/* RC2, RC4 */
#define CKM_RC2_KEY_GEN                 0x0100UL
#define CKM_RC2_ECB                     0x0101UL
#define CKM_RC2_CBC                     0x0102UL
#define CKM_RC2_MAC                     0x0103UL
#define CKM_RC2_MAC_GENERAL             0x0104UL
#define CKM_RC2_CBC_PAD                 0x0105UL
#define CKM_RC4_KEY_GEN                 0x0110UL
#define CKM_RC4                         0x0111UL
/* DES, 3DES, CDMF */
#define CKM_DES_KEY_GEN                 0x0120UL
#define CKM_DES_ECB                     0x0121UL
#define CKM_DES_CBC                     0x0122UL
#define CKM_DES_MAC                     0x0123UL
#define CKM_DES_MAC_GENERAL             0x0124UL
#define CKM_DES_CBC_PAD                 0x0125UL
#define CKM_DES2_KEY_GEN                0x0130UL
#define CKM_DES3_KEY_GEN                0x0131UL
#define CKM_DES3_ECB                    0x0132UL
#define CKM_DES3_CBC                    0x0133UL
#define CKM_DES3_MAC                    0x0134UL
#define CKM_DES3_MAC_GENERAL            0x0135UL
#define CKM_DES3_CBC_PAD                0x0136UL
#define CKM_DES3_CMAC_GENERAL           0x0137UL
#define CKM_DES3_CMAC                   0x0138UL
#define CKM_CDMF_KEY_GEN                0x0140UL
#define CKM_CDMF_ECB                    0x0141UL
#define CKM_CDMF_CBC                    0x0142UL
#define CKM_CDMF_MAC                    0x0143UL
#define CKM_CDMF_MAC_GENERAL            0x0144UL
#define CKM_CDMF_CBC_PAD                0x0145UL
#define CKM_DES_OFB64                   0x0150UL
#define CKM_DES_OFB8                    0x0151UL
#define CKM_DES_CFB64                   0x0152UL
#define CKM_DES_CFB8                    0x0153UL
/* digests and HMAC */
#define CKM_MD2                         0x0200UL
#define CKM_MD2_HMAC                    0x0201UL
#define CKM_MD2_HMAC_GENERAL            0x0202UL
#define CKM_MD5                         0x0210UL
#define CKM_MD5_HMAC                    0x0211UL
#define CKM_MD5_HMAC_GENERAL            0x0212UL
#define CKM_SHA_1                       0x0220UL
#define CKM_SHA_1_HMAC                  0x0221UL
#define CKM_SHA_1_HMAC_GENERAL          0x0222UL
#define CKM_RIPEMD128                   0x0230UL
#define CKM_RIPEMD128_HMAC              0x0231UL
#define CKM_RIPEMD128_HMAC_GENERAL      0x0232UL
#define CKM_RIPEMD160                   0x0240UL
#define CKM_RIPEMD160_HMAC              0x0241UL
#define CKM_RIPEMD160_HMAC_GENERAL      0x0242UL
#define CKM_SHA256                      0x0250UL
#define CKM_SHA256_HMAC                 0x0251UL
#define CKM_SHA256_HMAC_GENERAL         0x0252UL
#define CKM_SHA224                      0x0255UL
#define CKM_SHA224_HMAC                 0x0256UL
#define CKM_SHA224_HMAC_GENERAL         0x0257UL
#define CKM_SHA384                      0x0260UL
#define CKM_SHA384_HMAC                 0x0261UL
#define CKM_SHA384_HMAC_GENERAL         0x0262UL
#define CKM_SHA512                      0x0270UL
#define CKM_SHA512_HMAC                 0x0271UL
#define CKM_SHA512_HMAC_GENERAL         0x0272UL
#define CKM_SHA3_256                    0x02B0UL
#define CKM_SHA3_256_HMAC               0x02B1UL
#define CKM_SHA3_256_HMAC_GENERAL       0x02B2UL
#define CKM_SHA3_256_KEY_GEN            0x02B3UL
#define CKM_SHA3_224                    0x02B5UL
#define CKM_SHA3_224_HMAC               0x02B6UL
#define CKM_SHA3_224_HMAC_GENERAL       0x02B7UL
#define CKM_SHA3_224_KEY_GEN            0x02B8UL
#define CKM_SHA3_384                    0x02C0UL
#define CKM_SHA3_384_HMAC               0x02C1UL
#define CKM_SHA3_384_HMAC_GENERAL       0x02C2UL
#define CKM_SHA3_384_KEY_GEN            0x02C3UL
#define CKM_SHA3_512                    0x02D0UL
#define CKM_SHA3_512_HMAC               0x02D1UL
#define CKM_SHA3_512_HMAC_GENERAL       0x02D2UL
#define CKM_SHA3_512_KEY_GEN            0x02D3UL
/* one-time passwords */
#define CKM_SECURID_KEY_GEN             0x0280UL
#define CKM_SECURID                     0x0282UL
#define CKM_HOTP_KEY_GEN                0x0290UL
#define CKM_HOTP                        0x0291UL
#define CKM_ACTI                        0x02A0UL
#define CKM_ACTI_KEY_GEN                0x02A1UL
/* CAST, CAST3, CAST-128 (CAST5) */
#define CKM_CAST_KEY_GEN                0x0300UL
#define CKM_CAST_ECB                    0x0301UL
#define CKM_CAST_CBC                    0x0302UL
#define CKM_CAST_MAC                    0x0303UL
#define CKM_CAST_MAC_GENERAL            0x0304UL
#define CKM_CAST_CBC_PAD                0x0305UL
#define CKM_CAST3_KEY_GEN               0x0310UL
#define CKM_CAST3_ECB                   0x0311UL
#define CKM_CAST3_CBC                   0x0312UL
#define CKM_CAST3_MAC                   0x0313UL
#define CKM_CAST3_MAC_GENERAL           0x0314UL
#define CKM_CAST3_CBC_PAD               0x0315UL
#define CKM_CAST128_KEY_GEN             0x0320UL
#define CKM_CAST128_ECB                 0x0321UL
#define CKM_CAST128_CBC                 0x0322UL
#define CKM_CAST128_MAC                 0x0323UL
#define CKM_CAST128_MAC_GENERAL         0x0324UL
#define CKM_CAST128_CBC_PAD             0x0325UL
#define CKM_CAST5_KEY_GEN               CKM_CAST128_KEY_GEN /* deprecated */
#define CKM_CAST5_ECB                   CKM_CAST128_ECB /* deprecated */
#define CKM_CAST5_CBC                   CKM_CAST128_CBC /* deprecated */
#define CKM_CAST5_MAC                   CKM_CAST128_MAC /* deprecated */
#define CKM_CAST5_MAC_GENERAL           CKM_CAST128_MAC_GENERAL /* deprecated */
#define CKM_CAST5_CBC_PAD               CKM_CAST128_CBC_PAD /* deprecated */
/* RC5, IDEA */
#define CKM_RC5_KEY_GEN                 0x0330UL
#define CKM_RC5_ECB                     0x0331UL
#define CKM_RC5_CBC                     0x0332UL
#define CKM_RC5_MAC                     0x0333UL
#define CKM_RC5_MAC_GENERAL             0x0334UL
#define CKM_RC5_CBC_PAD                 0x0335UL
#define CKM_IDEA_KEY_GEN                0x0340UL
#define CKM_IDEA_ECB                    0x0341UL
#define CKM_IDEA_CBC                    0x0342UL
#define CKM_IDEA_MAC                    0x0343UL
#define CKM_IDEA_MAC_GENERAL            0x0344UL
#define CKM_IDEA_CBC_PAD                0x0345UL
/* generic secrets and key derivation by data manipulation */
#define CKM_GENERIC_SECRET_KEY_GEN      0x0350UL
#define CKM_CONCATENATE_BASE_AND_KEY    0x0360UL
#define CKM_CONCATENATE_BASE_AND_DATA   0x0362UL
#define CKM_CONCATENATE_DATA_AND_BASE   0x0363UL
#define CKM_XOR_BASE_AND_DATA           0x0364UL
#define CKM_EXTRACT_KEY_FROM_KEY        0x0365UL
/* SSL 3.0 and TLS */
#define CKM_SSL3_PRE_MASTER_KEY_GEN     0x0370UL
#define CKM_SSL3_MASTER_KEY_DERIVE      0x0371UL
#define CKM_SSL3_KEY_AND_MAC_DERIVE     0x0372UL
#define CKM_SSL3_MASTER_KEY_DERIVE_DH   0x0373UL
#define CKM_TLS_PRE_MASTER_KEY_GEN      0x0374UL
#define CKM_TLS_MASTER_KEY_DERIVE       0x0375UL
#define CKM_TLS_KEY_AND_MAC_DERIVE      0x0376UL
#define CKM_TLS_MASTER_KEY_DERIVE_DH    0x0377UL
#define CKM_TLS_PRF                     0x0378UL
#define CKM_SSL3_MD5_MAC                0x0380UL
#define CKM_SSL3_SHA1_MAC               0x0381UL
/* key derivation by digesting */
#define CKM_MD5_KEY_DERIVATION          0x0390UL
#define CKM_MD2_KEY_DERIVATION          0x0391UL
#define CKM_SHA1_KEY_DERIVATION         0x0392UL
#define CKM_SHA256_KEY_DERIVATION       0x0393UL
#define CKM_SHA384_KEY_DERIVATION       0x0394UL
#define CKM_SHA512_KEY_DERIVATION       0x0395UL
#define CKM_SHA224_KEY_DERIVATION       0x0396UL
#define CKM_SHA3_256_KEY_DERIVE         0x0397UL
#define CKM_SHA3_224_KEY_DERIVE         0x0398UL
#define CKM_SHA3_384_KEY_DERIVE         0x0399UL
#define CKM_SHA3_512_KEY_DERIVE         0x039AUL
#define CKM_SHAKE_128_KEY_DERIVE        0x039BUL
#define CKM_SHAKE_256_KEY_DERIVE        0x039CUL
/* password-based encryption and authentication */
#define CKM_PBE_MD2_DES_CBC             0x03A0UL
#define CKM_PBE_MD5_DES_CBC             0x03A1UL
#define CKM_PBE_MD5_CAST_CBC            0x03A2UL
#define CKM_PBE_MD5_CAST3_CBC           0x03A3UL
#define CKM_PBE_MD5_CAST128_CBC         0x03A4UL
#define CKM_PBE_MD5_CAST5_CBC           CKM_PBE_MD5_CAST128_CBC /* deprecated */
#define CKM_PBE_SHA1_CAST128_CBC        0x03A5UL
#define CKM_PBE_SHA1_CAST5_CBC          CKM_PBE_SHA1_CAST128_CBC /* deprecated */
#define CKM_PBE_SHA1_RC4_128            0x03A6UL
#define CKM_PBE_SHA1_RC4_40             0x03A7UL
#define CKM_PBE_SHA1_DES3_EDE_CBC       0x03A8UL
#define CKM_PBE_SHA1_DES2_EDE_CBC       0x03A9UL
#define CKM_PBE_SHA1_RC2_128_CBC        0x03AAUL
#define CKM_PBE_SHA1_RC2_40_CBC         0x03ABUL
#define CKM_PKCS5_PBKD2                 0x03B0UL
#define CKM_PBA_SHA1_WITH_SHA1_HMAC     0x03C0UL
/* WTLS, TLS 1.0 to 1.2 */
#define CKM_WTLS_PRE_MASTER_KEY_GEN     0x03D0UL
#define CKM_WTLS_MASTER_KEY_DERIVE      0x03D1UL
#define CKM_WTLS_MASTER_KEY_DERIVE_DH_ECC 0x03D2UL
#define CKM_WTLS_PRF                    0x03D3UL
#define CKM_WTLS_SERVER_KEY_AND_MAC_DERIVE 0x03D4UL
#define CKM_WTLS_CLIENT_KEY_AND_MAC_DERIVE 0x03D5UL
#define CKM_TLS10_MAC_SERVER            0x03D6UL
#define CKM_TLS10_MAC_CLIENT            0x03D7UL
#define CKM_TLS12_MAC                   0x03D8UL
#define CKM_TLS12_KDF                   0x03D9UL
#define CKM_TLS12_MASTER_KEY_DERIVE     0x03E0UL
#define CKM_TLS12_KEY_AND_MAC_DERIVE    0x03E1UL
#define CKM_TLS12_MASTER_KEY_DERIVE_DH  0x03E2UL
#define CKM_TLS12_KEY_SAFE_DERIVE       0x03E3UL
#define CKM_TLS_MAC                     0x03E4UL
#define CKM_TLS_KDF                     0x03E5UL
/* key wrapping, CMS, KIP */
#define CKM_KEY_WRAP_LYNKS              0x0400UL
#define CKM_KEY_WRAP_SET_OAEP           0x0401UL
#define CKM_CMS_SIG                     0x0500UL
#define CKM_KIP_DERIVE                  0x0510UL
#define CKM_KIP_WRAP                    0x0511UL
#define CKM_KIP_MAC                     0x0512UL
/* Camellia, ARIA, SEED */
#define CKM_CAMELLIA_KEY_GEN            0x0550UL
#define CKM_CAMELLIA_ECB                0x0551UL
#define CKM_CAMELLIA_CBC                0x0552UL
#define CKM_CAMELLIA_MAC                0x0553UL
#define CKM_CAMELLIA_MAC_GENERAL        0x0554UL
#define CKM_CAMELLIA_CBC_PAD            0x0555UL
#define CKM_CAMELLIA_ECB_ENCRYPT_DATA   0x0556UL
#define CKM_CAMELLIA_CBC_ENCRYPT_DATA   0x0557UL
#define CKM_CAMELLIA_CTR                0x0558UL
#define CKM_ARIA_KEY_GEN                0x0560UL
#define CKM_ARIA_ECB                    0x0561UL
#define CKM_ARIA_CBC                    0x0562UL
#define CKM_ARIA_MAC                    0x0563UL
#define CKM_ARIA_MAC_GENERAL            0x0564UL
#define CKM_ARIA_CBC_PAD                0x0565UL
#define CKM_ARIA_ECB_ENCRYPT_DATA       0x0566UL
#define CKM_ARIA_CBC_ENCRYPT_DATA       0x0567UL
#define CKM_SEED_KEY_GEN                0x0650UL
#define CKM_SEED_ECB                    0x0651UL
#define CKM_SEED_CBC                    0x0652UL
#define CKM_SEED_MAC                    0x0653UL
#define CKM_SEED_MAC_GENERAL            0x0654UL
#define CKM_SEED_CBC_PAD                0x0655UL
#define CKM_SEED_ECB_ENCRYPT_DATA       0x0656UL
#define CKM_SEED_CBC_ENCRYPT_DATA       0x0657UL
/* Fortezza-era: SKIPJACK, KEA, BATON, JUNIPER */
#define CKM_SKIPJACK_KEY_GEN            0x1000UL
#define CKM_SKIPJACK_ECB64              0x1001UL
#define CKM_SKIPJACK_CBC64              0x1002UL
#define CKM_SKIPJACK_OFB64              0x1003UL
#define CKM_SKIPJACK_CFB64              0x1004UL
#define CKM_SKIPJACK_CFB32              0x1005UL
#define CKM_SKIPJACK_CFB16              0x1006UL
#define CKM_SKIPJACK_CFB8               0x1007UL
#define CKM_SKIPJACK_WRAP               0x1008UL
#define CKM_SKIPJACK_PRIVATE_WRAP       0x1009UL
#define CKM_SKIPJACK_RELAYX             0x100AUL
#define CKM_KEA_KEY_PAIR_GEN            0x1010UL
#define CKM_KEA_KEY_DERIVE              0x1011UL
#define CKM_KEA_DERIVE                  0x1012UL
#define CKM_FORTEZZA_TIMESTAMP          0x1020UL
#define CKM_BATON_KEY_GEN               0x1030UL
#define CKM_BATON_ECB128                0x1031UL
#define CKM_BATON_ECB96                 0x1032UL
#define CKM_BATON_CBC128                0x1033UL
#define CKM_BATON_COUNTER               0x1034UL
#define CKM_BATON_SHUFFLE               0x1035UL
#define CKM_BATON_WRAP                  0x1036UL
/* elliptic curves */
#define CKM_EC_KEY_PAIR_GEN             0x1040UL
#define CKM_ECDSA_KEY_PAIR_GEN          CKM_EC_KEY_PAIR_GEN /* deprecated */
#define CKM_ECDSA                       0x1041UL
#define CKM_ECDSA_SHA1                  0x1042UL
#define CKM_ECDSA_SHA224                0x1043UL
#define CKM_ECDSA_SHA256                0x1044UL
#define CKM_ECDSA_SHA384                0x1045UL
#define CKM_ECDSA_SHA512                0x1046UL
#define CKM_ECDH1_DERIVE                0x1050UL
#define CKM_ECDH1_COFACTOR_DERIVE       0x1051UL
#define CKM_ECMQV_DERIVE                0x1052UL
#define CKM_ECDH_AES_KEY_WRAP           0x1053UL
#define CKM_RSA_AES_KEY_WRAP            0x1054UL
/* v3.0: Edwards curves */
#define CKM_EC_EDWARDS_KEY_PAIR_GEN     0x1055UL
#define CKM_EDDSA                       0x1057UL
#define CKM_JUNIPER_KEY_GEN             0x1060UL
#define CKM_JUNIPER_ECB128              0x1061UL
#define CKM_JUNIPER_CBC128              0x1062UL
#define CKM_JUNIPER_COUNTER             0x1063UL
#define CKM_JUNIPER_SHUFFLE             0x1064UL
#define CKM_JUNIPER_WRAP                0x1065UL
#define CKM_FASTHASH                    0x1070UL
/* AES */
#define CKM_AES_KEY_GEN                 0x1080UL
#define CKM_AES_ECB                     0x1081UL
#define CKM_AES_CBC                     0x1082UL
#define CKM_AES_MAC                     0x1083UL
#define CKM_AES_MAC_GENERAL             0x1084UL
#define CKM_AES_CBC_PAD                 0x1085UL
#define CKM_AES_CTR                     0x1086UL
#define CKM_AES_GCM                     0x1087UL
#define CKM_AES_CCM                     0x1088UL
#define CKM_AES_CTS                     0x1089UL
#define CKM_AES_CMAC                    0x108AUL
#define CKM_AES_CMAC_GENERAL            0x108BUL
#define CKM_AES_XCBC_MAC                0x108CUL
#define CKM_AES_XCBC_MAC_96             0x108DUL
#define CKM_AES_GMAC                    0x108EUL
/* Blowfish, Twofish */
#define CKM_BLOWFISH_KEY_GEN            0x1090UL
#define CKM_BLOWFISH_CBC                0x1091UL
#define CKM_TWOFISH_KEY_GEN             0x1092UL
#define CKM_TWOFISH_CBC                 0x1093UL
#define CKM_BLOWFISH_CBC_PAD            0x1094UL
#define CKM_TWOFISH_CBC_PAD             0x1095UL
/* key derivation by encrypting data */
#define CKM_DES_ECB_ENCRYPT_DATA        0x1100UL
#define CKM_DES_CBC_ENCRYPT_DATA        0x1101UL
#define CKM_DES3_ECB_ENCRYPT_DATA       0x1102UL
#define CKM_DES3_CBC_ENCRYPT_DATA       0x1103UL
#define CKM_AES_ECB_ENCRYPT_DATA        0x1104UL
#define CKM_AES_CBC_ENCRYPT_DATA        0x1105UL
/* GOST */
#define CKM_GOSTR3410_KEY_PAIR_GEN      0x1200UL
#define CKM_GOSTR3410                   0x1201UL
#define CKM_GOSTR3410_WITH_GOSTR3411    0x1202UL
#define CKM_GOSTR3410_KEY_WRAP          0x1203UL
#define CKM_GOSTR3410_DERIVE            0x1204UL
#define CKM_GOSTR3411                   0x1210UL
#define CKM_GOSTR3411_HMAC              0x1211UL
#define CKM_GOST28147_KEY_GEN           0x1220UL
#define CKM_GOST28147_ECB               0x1221UL
#define CKM_GOST28147                   0x1222UL
#define CKM_GOST28147_MAC               0x1223UL
#define CKM_GOST28147_KEY_WRAP          0x1224UL
/* domain parameter generation */
#define CKM_DSA_PARAMETER_GEN           0x2000UL
#define CKM_DH_PKCS_PARAMETER_GEN       0x2001UL
#define CKM_X9_42_DH_PARAMETER_GEN      0x2002UL
/* (sic: the v2.40 name is spelled PROBABLISTIC) */
#define CKM_DSA_PROBABLISTIC_PARAMETER_GEN 0x2003UL
#define CKM_DSA_SHAWE_TAYLOR_PARAMETER_GEN 0x2004UL
/* Described with the two above in v2.40's mechanism text but missing
 * from that version's header file; the value is v3.0's. */
#define CKM_DSA_FIPS_G_GEN              0x2005UL
/* AES feedback modes and key wrap */
#define CKM_AES_OFB                     0x2104UL
#define CKM_AES_CFB64                   0x2105UL
#define CKM_AES_CFB8                    0x2106UL
#define CKM_AES_CFB128                  0x2107UL
#define CKM_AES_CFB1                    0x2108UL
#define CKM_AES_KEY_WRAP                0x2109UL
#define CKM_AES_KEY_WRAP_PAD            0x210AUL
/* TPM 1.1 */
#define CKM_RSA_PKCS_TPM_1_1            0x4001UL
#define CKM_RSA_PKCS_OAEP_TPM_1_1       0x4002UL
#define CKM_VENDOR_DEFINED              0x80000000UL

typedef struct CK_MECHANISM {
	CK_MECHANISM_TYPE mechanism;
	CK_VOID_PTR       pParameter;
	CK_ULONG          ulParameterLen;
} CK_MECHANISM;
typedef CK_MECHANISM CK_PTR CK_MECHANISM_PTR;

typedef struct CK_MECHANISM_INFO {
	CK_ULONG ulMinKeySize;
	CK_ULONG ulMaxKeySize;
	CK_FLAGS flags;
} CK_MECHANISM_INFO;
typedef CK_MECHANISM_INFO CK_PTR CK_MECHANISM_INFO_PTR;

/* CK_MECHANISM_INFO.flags */
#define CKF_HW                          0x00000001UL
#define CKF_ENCRYPT                     0x00000100UL
#define CKF_DECRYPT                     0x00000200UL
#define CKF_DIGEST                      0x00000400UL
#define CKF_SIGN                        0x00000800UL
#define CKF_SIGN_RECOVER                0x00001000UL
#define CKF_VERIFY                      0x00002000UL
#define CKF_VERIFY_RECOVER              0x00004000UL
#define CKF_GENERATE                    0x00008000UL
#define CKF_GENERATE_KEY_PAIR           0x00010000UL
#define CKF_WRAP                        0x00020000UL
#define CKF_UNWRAP                      0x00040000UL
#define CKF_DERIVE                      0x00080000UL
#define CKF_EC_F_P                      0x00100000UL
#define CKF_EC_F_2M                     0x00200000UL
#define CKF_EC_ECPARAMETERS             0x00400000UL
#define CKF_EC_NAMEDCURVE               0x00800000UL
#define CKF_EC_UNCOMPRESS               0x01000000UL
#define CKF_EC_COMPRESS                 0x02000000UL
#define CKF_EXTENSION                   0x80000000UL

/* ------------------------------------------------------------------
 * Return values
 * ------------------------------------------------------------------ */

typedef CK_ULONG CK_RV;

#define CKR_OK                                  0x000UL
#define CKR_CANCEL                              0x001UL
#define CKR_HOST_MEMORY                         0x002UL
#define CKR_SLOT_ID_INVALID                     0x003UL
#define CKR_GENERAL_ERROR                       0x005UL
#define CKR_FUNCTION_FAILED                     0x006UL
#define CKR_ARGUMENTS_BAD                       0x007UL
#define CKR_NO_EVENT                            0x008UL
#define CKR_NEED_TO_CREATE_THREADS              0x009UL
#define CKR_CANT_LOCK                           0x00AUL
#define CKR_ATTRIBUTE_READ_ONLY                 0x010UL
#define CKR_ATTRIBUTE_SENSITIVE                 0x011UL
#define CKR_ATTRIBUTE_TYPE_INVALID              0x012UL
#define CKR_ATTRIBUTE_VALUE_INVALID             0x013UL
#define CKR_ACTION_PROHIBITED                   0x01BUL
#define CKR_DATA_INVALID                        0x020UL
#define CKR_DATA_LEN_RANGE                      0x021UL
#define CKR_DEVICE_ERROR                        0x030UL
#define CKR_DEVICE_MEMORY                       0x031UL
#define CKR_DEVICE_REMOVED                      0x032UL
#define CKR_ENCRYPTED_DATA_INVALID              0x040UL
#define CKR_ENCRYPTED_DATA_LEN_RANGE            0x041UL
#define CKR_FUNCTION_CANCELED                   0x050UL
#define CKR_FUNCTION_NOT_PARALLEL               0x051UL
#define CKR_FUNCTION_NOT_SUPPORTED              0x054UL
#define CKR_KEY_HANDLE_INVALID                  0x060UL
#define CKR_KEY_SIZE_RANGE                      0x062UL
#define CKR_KEY_TYPE_INCONSISTENT               0x063UL
#define CKR_KEY_NOT_NEEDED                      0x064UL
#define CKR_KEY_CHANGED                         0x065UL
#define CKR_KEY_NEEDED                          0x066UL
#define CKR_KEY_INDIGESTIBLE                    0x067UL
#define CKR_KEY_FUNCTION_NOT_PERMITTED          0x068UL
#define CKR_KEY_NOT_WRAPPABLE                   0x069UL
#define CKR_KEY_UNEXTRACTABLE                   0x06AUL
#define CKR_MECHANISM_INVALID                   0x070UL
#define CKR_MECHANISM_PARAM_INVALID             0x071UL
#define CKR_OBJECT_HANDLE_INVALID               0x082UL
#define CKR_OPERATION_ACTIVE                    0x090UL
#define CKR_OPERATION_NOT_INITIALIZED           0x091UL
#define CKR_PIN_INCORRECT                       0x0A0UL
#define CKR_PIN_INVALID                         0x0A1UL
#define CKR_PIN_LEN_RANGE                       0x0A2UL
#define CKR_PIN_EXPIRED                         0x0A3UL
#define CKR_PIN_LOCKED                          0x0A4UL
#define CKR_SESSION_CLOSED                      0x0B0UL
#define CKR_SESSION_COUNT                       0x0B1UL
#define CKR_SESSION_HANDLE_INVALID              0x0B3UL
#define CKR_SESSION_PARALLEL_NOT_SUPPORTED      0x0B4UL
#define CKR_SESSION_READ_ONLY                   0x0B5UL
#define CKR_SESSION_EXISTS                      0x0B6UL
#define CKR_SESSION_READ_ONLY_EXISTS            0x0B7UL
#define CKR_SESSION_READ_WRITE_SO_EXISTS        0x0B8UL
#define CKR_SIGNATURE_INVALID                   0x0C0UL
#define CKR_SIGNATURE_LEN_RANGE                 0x0C1UL
#define CKR_TEMPLATE_INCOMPLETE                 0x0D0UL
#define CKR_TEMPLATE_INCONSISTENT               0x0D1UL
#define CKR_TOKEN_NOT_PRESENT                   0x0E0UL
#define CKR_TOKEN_NOT_RECOGNIZED                0x0E1UL
#define CKR_TOKEN_WRITE_PROTECTED               0x0E2UL
#define CKR_UNWRAPPING_KEY_HANDLE_INVALID       0x0F0UL
#define CKR_UNWRAPPING_KEY_SIZE_RANGE           0x0F1UL
#define CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT    0x0F2UL
#define CKR_USER_ALREADY_LOGGED_IN              0x100UL
#define CKR_USER_NOT_LOGGED_IN                  0x101UL
#define CKR_USER_PIN_NOT_INITIALIZED            0x102UL
#define CKR_USER_TYPE_INVALID                   0x103UL
#define CKR_USER_ANOTHER_ALREADY_LOGGED_IN      0x104UL
#define CKR_USER_TOO_MANY_TYPES                 0x105UL
#define CKR_WRAPPED_KEY_INVALID                 0x110UL
#define CKR_WRAPPED_KEY_LEN_RANGE               0x112UL
#define CKR_WRAPPING_KEY_HANDLE_INVALID         0x113UL
#define CKR_WRAPPING_KEY_SIZE_RANGE             0x114UL
#define CKR_WRAPPING_KEY_TYPE_INCONSISTENT      0x115UL
#define CKR_RANDOM_SEED_NOT_SUPPORTED           0x120UL
#define CKR_RANDOM_NO_RNG                       0x121UL
#define CKR_DOMAIN_PARAMS_INVALID               0x130UL
#define CKR_CURVE_NOT_SUPPORTED                 0x140UL
#define CKR_BUFFER_TOO_SMALL                    0x150UL
#define CKR_SAVED_STATE_INVALID                 0x160UL
#define CKR_INFORMATION_SENSITIVE               0x170UL
#define CKR_STATE_UNSAVEABLE                    0x180UL
#define CKR_CRYPTOKI_NOT_INITIALIZED            0x190UL
#define CKR_CRYPTOKI_ALREADY_INITIALIZED        0x191UL
#define CKR_MUTEX_BAD                           0x1A0UL
#define CKR_MUTEX_NOT_LOCKED                    0x1A1UL
#define CKR_NEW_PIN_MODE                        0x1B0UL
#define CKR_NEXT_OTP                            0x1B1UL
#define CKR_EXCEEDED_MAX_ITERATIONS             0x1B5UL
#define CKR_FIPS_SELF_TEST_FAILED               0x1B6UL
#define CKR_LIBRARY_LOAD_FAILED                 0x1B7UL
#define CKR_PIN_TOO_WEAK                        0x1B8UL
#define CKR_PUBLIC_KEY_INVALID                  0x1B9UL
#define CKR_FUNCTION_REJECTED                   0x200UL
#define CKR_VENDOR_DEFINED                      0x80000000UL

/* ------------------------------------------------------------------
 * C_Initialize arguments and callbacks
 * ------------------------------------------------------------------ */

typedef CK_CALLBACK_FUNCTION(CK_RV, CK_NOTIFY)(
	CK_SESSION_HANDLE hSession, CK_NOTIFICATION event,
	CK_VOID_PTR pApplication);

typedef CK_CALLBACK_FUNCTION(CK_RV, CK_CREATEMUTEX)(CK_VOID_PTR_PTR ppMutex);
typedef CK_CALLBACK_FUNCTION(CK_RV, CK_DESTROYMUTEX)(CK_VOID_PTR pMutex);
typedef CK_CALLBACK_FUNCTION(CK_RV, CK_LOCKMUTEX)(CK_VOID_PTR pMutex);
typedef CK_CALLBACK_FUNCTION(CK_RV, CK_UNLOCKMUTEX)(CK_VOID_PTR pMutex);

typedef struct CK_C_INITIALIZE_ARGS {
	CK_CREATEMUTEX  CreateMutex;
	CK_DESTROYMUTEX DestroyMutex;
	CK_LOCKMUTEX    LockMutex;
	CK_UNLOCKMUTEX  UnlockMutex;
	CK_FLAGS        flags;
	CK_VOID_PTR     pReserved;
} CK_C_INITIALIZE_ARGS;
typedef CK_C_INITIALIZE_ARGS CK_PTR CK_C_INITIALIZE_ARGS_PTR;

/* CK_C_INITIALIZE_ARGS.flags */
#define CKF_LIBRARY_CANT_CREATE_OS_THREADS      0x00000001UL
#define CKF_OS_LOCKING_OK                       0x00000002UL

/* C_WaitForSlotEvent flags */
#define CKF_DONT_BLOCK                          0x00000001UL

/* The function list; its members come from pkcs11f.h via pkcs11.h. */
typedef struct CK_FUNCTION_LIST CK_FUNCTION_LIST;
typedef CK_FUNCTION_LIST CK_PTR CK_FUNCTION_LIST_PTR;
typedef CK_FUNCTION_LIST_PTR CK_PTR CK_FUNCTION_LIST_PTR_PTR;
typedef struct CK_FUNCTION_LIST_3_0 CK_FUNCTION_LIST_3_0;
typedef CK_FUNCTION_LIST_3_0 CK_PTR CK_FUNCTION_LIST_3_0_PTR;
typedef CK_FUNCTION_LIST_3_0_PTR CK_PTR CK_FUNCTION_LIST_3_0_PTR_PTR;

/* ------------------------------------------------------------------
 * v3.0 interfaces (C_GetInterfaceList, C_GetInterface)
 * ------------------------------------------------------------------ */

typedef struct CK_INTERFACE {
	CK_CHAR     CK_PTR pInterfaceName;
	CK_VOID_PTR        pFunctionList;
	CK_FLAGS           flags;
} CK_INTERFACE;
typedef CK_INTERFACE CK_PTR CK_INTERFACE_PTR;
typedef CK_INTERFACE_PTR CK_PTR CK_INTERFACE_PTR_PTR;

/* CK_INTERFACE.flags */
#define CKF_INTERFACE_FORK_SAFE                 0x00000001UL

/* ------------------------------------------------------------------
 * Mechanism parameters
 * ------------------------------------------------------------------ */

/* RSA PKCS #1 OAEP and PSS */
typedef CK_ULONG CK_RSA_PKCS_MGF_TYPE;
typedef CK_RSA_PKCS_MGF_TYPE CK_PTR CK_RSA_PKCS_MGF_TYPE_PTR;
#define CKG_MGF1_SHA1                           0x1UL
#define CKG_MGF1_SHA256                         0x2UL
#define CKG_MGF1_SHA384                         0x3UL
#define CKG_MGF1_SHA512                         0x4UL
#define CKG_MGF1_SHA224                         0x5UL

typedef CK_ULONG CK_RSA_PKCS_OAEP_SOURCE_TYPE;
typedef CK_RSA_PKCS_OAEP_SOURCE_TYPE CK_PTR CK_RSA_PKCS_OAEP_SOURCE_TYPE_PTR;
#define CKZ_DATA_SPECIFIED                      0x1UL

typedef struct CK_RSA_PKCS_OAEP_PARAMS {
	CK_MECHANISM_TYPE            hashAlg;
	CK_RSA_PKCS_MGF_TYPE         mgf;
	CK_RSA_PKCS_OAEP_SOURCE_TYPE source;
	CK_VOID_PTR                  pSourceData;
	CK_ULONG                     ulSourceDataLen;
} CK_RSA_PKCS_OAEP_PARAMS;
typedef CK_RSA_PKCS_OAEP_PARAMS CK_PTR CK_RSA_PKCS_OAEP_PARAMS_PTR;

typedef struct CK_RSA_PKCS_PSS_PARAMS {
	CK_MECHANISM_TYPE    hashAlg;
	CK_RSA_PKCS_MGF_TYPE mgf;
	CK_ULONG             sLen;
} CK_RSA_PKCS_PSS_PARAMS;
typedef CK_RSA_PKCS_PSS_PARAMS CK_PTR CK_RSA_PKCS_PSS_PARAMS_PTR;

typedef struct CK_RSA_AES_KEY_WRAP_PARAMS {
	CK_ULONG                    ulAESKeyBits;
	CK_RSA_PKCS_OAEP_PARAMS_PTR pOAEPParams;
} CK_RSA_AES_KEY_WRAP_PARAMS;
typedef CK_RSA_AES_KEY_WRAP_PARAMS CK_PTR CK_RSA_AES_KEY_WRAP_PARAMS_PTR;

/* Elliptic-curve key agreement */
typedef CK_ULONG CK_EC_KDF_TYPE;
#define CKD_NULL                                0x1UL
#define CKD_SHA1_KDF                            0x2UL
#define CKD_SHA1_KDF_ASN1                       0x3UL
#define CKD_SHA1_KDF_CONCATENATE                0x4UL
#define CKD_SHA224_KDF                          0x5UL
#define CKD_SHA256_KDF                          0x6UL
#define CKD_SHA384_KDF                          0x7UL
#define CKD_SHA512_KDF                          0x8UL
#define CKD_CPDIVERSIFY_KDF                     0x9UL
#define CKD_SHA3_224_KDF                        0xAUL
#define CKD_SHA3_256_KDF                        0xBUL
#define CKD_SHA3_384_KDF                        0xCUL
#define CKD_SHA3_512_KDF                        0xDUL

typedef struct CK_ECDH1_DERIVE_PARAMS {
	CK_EC_KDF_TYPE kdf;
	CK_ULONG       ulSharedDataLen;
	CK_BYTE_PTR    pSharedData;
	CK_ULONG       ulPublicDataLen;
	CK_BYTE_PTR    pPublicData;
} CK_ECDH1_DERIVE_PARAMS;
typedef CK_ECDH1_DERIVE_PARAMS CK_PTR CK_ECDH1_DERIVE_PARAMS_PTR;

typedef struct CK_ECDH2_DERIVE_PARAMS {
	CK_EC_KDF_TYPE   kdf;
	CK_ULONG         ulSharedDataLen;
	CK_BYTE_PTR      pSharedData;
	CK_ULONG         ulPublicDataLen;
	CK_BYTE_PTR      pPublicData;
	CK_ULONG         ulPrivateDataLen;
	CK_OBJECT_HANDLE hPrivateData;
	CK_ULONG         ulPublicDataLen2;
	CK_BYTE_PTR      pPublicData2;
} CK_ECDH2_DERIVE_PARAMS;
typedef CK_ECDH2_DERIVE_PARAMS CK_PTR CK_ECDH2_DERIVE_PARAMS_PTR;

typedef struct CK_ECMQV_DERIVE_PARAMS {
	CK_EC_KDF_TYPE   kdf;
	CK_ULONG         ulSharedDataLen;
	CK_BYTE_PTR      pSharedData;
	CK_ULONG         ulPublicDataLen;
	CK_BYTE_PTR      pPublicData;
	CK_ULONG         ulPrivateDataLen;
	CK_OBJECT_HANDLE hPrivateData;
	CK_ULONG         ulPublicDataLen2;
	CK_BYTE_PTR      pPublicData2;
	CK_OBJECT_HANDLE publicKey;
} CK_ECMQV_DERIVE_PARAMS;
typedef CK_ECMQV_DERIVE_PARAMS CK_PTR CK_ECMQV_DERIVE_PARAMS_PTR;

typedef struct CK_ECDH_AES_KEY_WRAP_PARAMS {
	CK_ULONG       ulAESKeyBits;
	CK_EC_KDF_TYPE kdf;
	CK_ULONG       ulSharedDataLen;
	CK_BYTE_PTR    pSharedData;
} CK_ECDH_AES_KEY_WRAP_PARAMS;
typedef CK_ECDH_AES_KEY_WRAP_PARAMS CK_PTR CK_ECDH_AES_KEY_WRAP_PARAMS_PTR;

/* X9.42 Diffie-Hellman (uses the CKD_ values above) */
typedef CK_ULONG CK_X9_42_DH_KDF_TYPE;
typedef CK_X9_42_DH_KDF_TYPE CK_PTR CK_X9_42_DH_KDF_TYPE_PTR;

typedef struct CK_X9_42_DH1_DERIVE_PARAMS {
	CK_X9_42_DH_KDF_TYPE kdf;
	CK_ULONG             ulOtherInfoLen;
	CK_BYTE_PTR          pOtherInfo;
	CK_ULONG             ulPublicDataLen;
	CK_BYTE_PTR          pPublicData;
} CK_X9_42_DH1_DERIVE_PARAMS;
typedef CK_X9_42_DH1_DERIVE_PARAMS CK_PTR CK_X9_42_DH1_DERIVE_PARAMS_PTR;

typedef struct CK_X9_42_DH2_DERIVE_PARAMS {
	CK_X9_42_DH_KDF_TYPE kdf;
	CK_ULONG             ulOtherInfoLen;
	CK_BYTE_PTR          pOtherInfo;
	CK_ULONG             ulPublicDataLen;
	CK_BYTE_PTR          pPublicData;
	CK_ULONG             ulPrivateDataLen;
	CK_OBJECT_HANDLE     hPrivateData;
	CK_ULONG             ulPublicDataLen2;
	CK_BYTE_PTR          pPublicData2;
} CK_X9_42_DH2_DERIVE_PARAMS;
typedef CK_X9_42_DH2_DERIVE_PARAMS CK_PTR CK_X9_42_DH2_DERIVE_PARAMS_PTR;

typedef struct CK_X9_42_MQV_DERIVE_PARAMS {
	CK_X9_42_DH_KDF_TYPE kdf;
	CK_ULONG             ulOtherInfoLen;
	CK_BYTE_PTR          pOtherInfo;
	CK_ULONG             ulPublicDataLen;
	CK_BYTE_PTR          pPublicData;
	CK_ULONG             ulPrivateDataLen;
	CK_OBJECT_HANDLE     hPrivateData;
	CK_ULONG             ulPublicDataLen2;
	CK_BYTE_PTR          pPublicData2;
	CK_OBJECT_HANDLE     publicKey;
} CK_X9_42_MQV_DERIVE_PARAMS;
typedef CK_X9_42_MQV_DERIVE_PARAMS CK_PTR CK_X9_42_MQV_DERIVE_PARAMS_PTR;

/* DSA domain parameter generation (FIPS 186-4) */
typedef struct CK_DSA_PARAMETER_GEN_PARAM {
	CK_MECHANISM_TYPE hash;
	CK_BYTE_PTR       pSeed;
	CK_ULONG          ulSeedLen;
	CK_ULONG          ulIndex;
} CK_DSA_PARAMETER_GEN_PARAM;
typedef CK_DSA_PARAMETER_GEN_PARAM CK_PTR CK_DSA_PARAMETER_GEN_PARAM_PTR;

/* Block-cipher modes */
typedef CK_ULONG CK_MAC_GENERAL_PARAMS;
typedef CK_MAC_GENERAL_PARAMS CK_PTR CK_MAC_GENERAL_PARAMS_PTR;

typedef CK_ULONG CK_RC2_PARAMS;
typedef CK_RC2_PARAMS CK_PTR CK_RC2_PARAMS_PTR;

typedef struct CK_RC2_CBC_PARAMS {
	CK_ULONG ulEffectiveBits;
	CK_BYTE  iv[8];
} CK_RC2_CBC_PARAMS;
typedef CK_RC2_CBC_PARAMS CK_PTR CK_RC2_CBC_PARAMS_PTR;

typedef struct CK_RC2_MAC_GENERAL_PARAMS {
	CK_ULONG ulEffectiveBits;
	CK_ULONG ulMacLength;
} CK_RC2_MAC_GENERAL_PARAMS;
typedef CK_RC2_MAC_GENERAL_PARAMS CK_PTR CK_RC2_MAC_GENERAL_PARAMS_PTR;

typedef struct CK_RC5_PARAMS {
	CK_ULONG ulWordsize;
	CK_ULONG ulRounds;
} CK_RC5_PARAMS;
typedef CK_RC5_PARAMS CK_PTR CK_RC5_PARAMS_PTR;

typedef struct CK_RC5_CBC_PARAMS {
	CK_ULONG    ulWordsize;
	CK_ULONG    ulRounds;
	CK_BYTE_PTR pIv;
	CK_ULONG    ulIvLen;
} CK_RC5_CBC_PARAMS;
typedef CK_RC5_CBC_PARAMS CK_PTR CK_RC5_CBC_PARAMS_PTR;

typedef struct CK_RC5_MAC_GENERAL_PARAMS {
	CK_ULONG ulWordsize;
	CK_ULONG ulRounds;
	CK_ULONG ulMacLength;
} CK_RC5_MAC_GENERAL_PARAMS;
typedef CK_RC5_MAC_GENERAL_PARAMS CK_PTR CK_RC5_MAC_GENERAL_PARAMS_PTR;

typedef struct CK_AES_CTR_PARAMS {
	CK_ULONG ulCounterBits;
	CK_BYTE  cb[16];
} CK_AES_CTR_PARAMS;
typedef CK_AES_CTR_PARAMS CK_PTR CK_AES_CTR_PARAMS_PTR;

typedef struct CK_CAMELLIA_CTR_PARAMS {
	CK_ULONG ulCounterBits;
	CK_BYTE  cb[16];
} CK_CAMELLIA_CTR_PARAMS;
typedef CK_CAMELLIA_CTR_PARAMS CK_PTR CK_CAMELLIA_CTR_PARAMS_PTR;

/* v2.40 layout: ulIvBits sits between ulIvLen and pAAD. */
typedef struct CK_GCM_PARAMS {
	CK_BYTE_PTR pIv;
	CK_ULONG    ulIvLen;
	CK_ULONG    ulIvBits;
	CK_BYTE_PTR pAAD;
	CK_ULONG    ulAADLen;
	CK_ULONG    ulTagBits;
} CK_GCM_PARAMS;
typedef CK_GCM_PARAMS CK_PTR CK_GCM_PARAMS_PTR;

typedef struct CK_CCM_PARAMS {
	CK_ULONG    ulDataLen;
	CK_BYTE_PTR pNonce;
	CK_ULONG    ulNonceLen;
	CK_BYTE_PTR pAAD;
	CK_ULONG    ulAADLen;
	CK_ULONG    ulMACLen;
} CK_CCM_PARAMS;
typedef CK_CCM_PARAMS CK_PTR CK_CCM_PARAMS_PTR;

/* v2.40 also names both layouts a second time, as distinct structs. */
typedef struct CK_AES_GCM_PARAMS {
	CK_BYTE_PTR pIv;
	CK_ULONG    ulIvLen;
	CK_ULONG    ulIvBits;
	CK_BYTE_PTR pAAD;
	CK_ULONG    ulAADLen;
	CK_ULONG    ulTagBits;
} CK_AES_GCM_PARAMS;
typedef CK_AES_GCM_PARAMS CK_PTR CK_AES_GCM_PARAMS_PTR;

typedef struct CK_AES_CCM_PARAMS {
	CK_ULONG    ulDataLen;
	CK_BYTE_PTR pNonce;
	CK_ULONG    ulNonceLen;
	CK_BYTE_PTR pAAD;
	CK_ULONG    ulAADLen;
	CK_ULONG    ulMACLen;
} CK_AES_CCM_PARAMS;
typedef CK_AES_CCM_PARAMS CK_PTR CK_AES_CCM_PARAMS_PTR;

typedef struct CK_KEY_WRAP_SET_OAEP_PARAMS {
	CK_BYTE     bBC;
	CK_BYTE_PTR pX;
	CK_ULONG    ulXLen;
} CK_KEY_WRAP_SET_OAEP_PARAMS;
typedef CK_KEY_WRAP_SET_OAEP_PARAMS CK_PTR CK_KEY_WRAP_SET_OAEP_PARAMS_PTR;

/* Key derivation by data manipulation or encryption */
typedef struct CK_KEY_DERIVATION_STRING_DATA {
	CK_BYTE_PTR pData;
	CK_ULONG    ulLen;
} CK_KEY_DERIVATION_STRING_DATA;
typedef CK_KEY_DERIVATION_STRING_DATA CK_PTR CK_KEY_DERIVATION_STRING_DATA_PTR;

typedef CK_ULONG CK_EXTRACT_PARAMS;
typedef CK_EXTRACT_PARAMS CK_PTR CK_EXTRACT_PARAMS_PTR;

typedef struct CK_DES_CBC_ENCRYPT_DATA_PARAMS {
	CK_BYTE     iv[8];
	CK_BYTE_PTR pData;
	CK_ULONG    length;
} CK_DES_CBC_ENCRYPT_DATA_PARAMS;
typedef CK_DES_CBC_ENCRYPT_DATA_PARAMS CK_PTR CK_DES_CBC_ENCRYPT_DATA_PARAMS_PTR;

typedef struct CK_AES_CBC_ENCRYPT_DATA_PARAMS {
	CK_BYTE     iv[16];
	CK_BYTE_PTR pData;
	CK_ULONG    length;
} CK_AES_CBC_ENCRYPT_DATA_PARAMS;
typedef CK_AES_CBC_ENCRYPT_DATA_PARAMS CK_PTR CK_AES_CBC_ENCRYPT_DATA_PARAMS_PTR;

typedef struct CK_CAMELLIA_CBC_ENCRYPT_DATA_PARAMS {
	CK_BYTE     iv[16];
	CK_BYTE_PTR pData;
	CK_ULONG    length;
} CK_CAMELLIA_CBC_ENCRYPT_DATA_PARAMS;
typedef CK_CAMELLIA_CBC_ENCRYPT_DATA_PARAMS CK_PTR CK_CAMELLIA_CBC_ENCRYPT_DATA_PARAMS_PTR;

typedef struct CK_ARIA_CBC_ENCRYPT_DATA_PARAMS {
	CK_BYTE     iv[16];
	CK_BYTE_PTR pData;
	CK_ULONG    length;
} CK_ARIA_CBC_ENCRYPT_DATA_PARAMS;
typedef CK_ARIA_CBC_ENCRYPT_DATA_PARAMS CK_PTR CK_ARIA_CBC_ENCRYPT_DATA_PARAMS_PTR;

typedef struct CK_SEED_CBC_ENCRYPT_DATA_PARAMS {
	CK_BYTE     iv[16];
	CK_BYTE_PTR pData;
	CK_ULONG    length;
} CK_SEED_CBC_ENCRYPT_DATA_PARAMS;
typedef CK_SEED_CBC_ENCRYPT_DATA_PARAMS CK_PTR CK_SEED_CBC_ENCRYPT_DATA_PARAMS_PTR;

/* Password-based encryption and PKCS #5 PBKDF2 */
typedef struct CK_PBE_PARAMS {
	CK_BYTE_PTR     pInitVector;
	CK_UTF8CHAR_PTR pPassword;
	CK_ULONG        ulPasswordLen;
	CK_BYTE_PTR     pSalt;
	CK_ULONG        ulSaltLen;
	CK_ULONG        ulIteration;
} CK_PBE_PARAMS;
typedef CK_PBE_PARAMS CK_PTR CK_PBE_PARAMS_PTR;

typedef CK_ULONG CK_PKCS5_PBKDF2_SALT_SOURCE_TYPE;
typedef CK_PKCS5_PBKDF2_SALT_SOURCE_TYPE CK_PTR CK_PKCS5_PBKDF2_SALT_SOURCE_TYPE_PTR;
#define CKZ_SALT_SPECIFIED                      0x1UL

typedef CK_ULONG CK_PKCS5_PBKD2_PSEUDO_RANDOM_FUNCTION_TYPE;
typedef CK_PKCS5_PBKD2_PSEUDO_RANDOM_FUNCTION_TYPE CK_PTR CK_PKCS5_PBKD2_PSEUDO_RANDOM_FUNCTION_TYPE_PTR;
#define CKP_PKCS5_PBKD2_HMAC_SHA1               0x1UL
#define CKP_PKCS5_PBKD2_HMAC_GOSTR3411          0x2UL
#define CKP_PKCS5_PBKD2_HMAC_SHA224             0x3UL
#define CKP_PKCS5_PBKD2_HMAC_SHA256             0x4UL
#define CKP_PKCS5_PBKD2_HMAC_SHA384             0x5UL
#define CKP_PKCS5_PBKD2_HMAC_SHA512             0x6UL
#define CKP_PKCS5_PBKD2_HMAC_SHA512_224         0x7UL
#define CKP_PKCS5_PBKD2_HMAC_SHA512_256         0x8UL

/* ulPasswordLen is a pointer here; CK_PKCS5_PBKD2_PARAMS2 fixes that. */
typedef struct CK_PKCS5_PBKD2_PARAMS {
	CK_PKCS5_PBKDF2_SALT_SOURCE_TYPE           saltSource;
	CK_VOID_PTR                                pSaltSourceData;
	CK_ULONG                                   ulSaltSourceDataLen;
	CK_ULONG                                   iterations;
	CK_PKCS5_PBKD2_PSEUDO_RANDOM_FUNCTION_TYPE prf;
	CK_VOID_PTR                                pPrfData;
	CK_ULONG                                   ulPrfDataLen;
	CK_UTF8CHAR_PTR                            pPassword;
	CK_ULONG_PTR                               ulPasswordLen;
} CK_PKCS5_PBKD2_PARAMS;
typedef CK_PKCS5_PBKD2_PARAMS CK_PTR CK_PKCS5_PBKD2_PARAMS_PTR;

typedef struct CK_PKCS5_PBKD2_PARAMS2 {
	CK_PKCS5_PBKDF2_SALT_SOURCE_TYPE           saltSource;
	CK_VOID_PTR                                pSaltSourceData;
	CK_ULONG                                   ulSaltSourceDataLen;
	CK_ULONG                                   iterations;
	CK_PKCS5_PBKD2_PSEUDO_RANDOM_FUNCTION_TYPE prf;
	CK_VOID_PTR                                pPrfData;
	CK_ULONG                                   ulPrfDataLen;
	CK_UTF8CHAR_PTR                            pPassword;
	CK_ULONG                                   ulPasswordLen;
} CK_PKCS5_PBKD2_PARAMS2;
typedef CK_PKCS5_PBKD2_PARAMS2 CK_PTR CK_PKCS5_PBKD2_PARAMS2_PTR;

/* SSL 3.0 and TLS key derivation */
typedef struct CK_SSL3_RANDOM_DATA {
	CK_BYTE_PTR pClientRandom;
	CK_ULONG    ulClientRandomLen;
	CK_BYTE_PTR pServerRandom;
	CK_ULONG    ulServerRandomLen;
} CK_SSL3_RANDOM_DATA;

typedef struct CK_SSL3_MASTER_KEY_DERIVE_PARAMS {
	CK_SSL3_RANDOM_DATA RandomInfo;
	CK_VERSION_PTR      pVersion;
} CK_SSL3_MASTER_KEY_DERIVE_PARAMS;
typedef CK_SSL3_MASTER_KEY_DERIVE_PARAMS CK_PTR CK_SSL3_MASTER_KEY_DERIVE_PARAMS_PTR;

typedef struct CK_SSL3_KEY_MAT_OUT {
	CK_OBJECT_HANDLE hClientMacSecret;
	CK_OBJECT_HANDLE hServerMacSecret;
	CK_OBJECT_HANDLE hClientKey;
	CK_OBJECT_HANDLE hServerKey;
	CK_BYTE_PTR      pIVClient;
	CK_BYTE_PTR      pIVServer;
} CK_SSL3_KEY_MAT_OUT;
typedef CK_SSL3_KEY_MAT_OUT CK_PTR CK_SSL3_KEY_MAT_OUT_PTR;

typedef struct CK_SSL3_KEY_MAT_PARAMS {
	CK_ULONG                ulMacSizeInBits;
	CK_ULONG                ulKeySizeInBits;
	CK_ULONG                ulIVSizeInBits;
	CK_BBOOL                bIsExport;
	CK_SSL3_RANDOM_DATA     RandomInfo;
	CK_SSL3_KEY_MAT_OUT_PTR pReturnedKeyMaterial;
} CK_SSL3_KEY_MAT_PARAMS;
typedef CK_SSL3_KEY_MAT_PARAMS CK_PTR CK_SSL3_KEY_MAT_PARAMS_PTR;

typedef struct CK_TLS_PRF_PARAMS {
	CK_BYTE_PTR  pSeed;
	CK_ULONG     ulSeedLen;
	CK_BYTE_PTR  pLabel;
	CK_ULONG     ulLabelLen;
	CK_BYTE_PTR  pOutput;
	CK_ULONG_PTR pulOutputLen;
} CK_TLS_PRF_PARAMS;
typedef CK_TLS_PRF_PARAMS CK_PTR CK_TLS_PRF_PARAMS_PTR;

typedef struct CK_TLS12_MASTER_KEY_DERIVE_PARAMS {
	CK_SSL3_RANDOM_DATA RandomInfo;
	CK_VERSION_PTR      pVersion;
	CK_MECHANISM_TYPE   prfHashMechanism;
} CK_TLS12_MASTER_KEY_DERIVE_PARAMS;
typedef CK_TLS12_MASTER_KEY_DERIVE_PARAMS CK_PTR CK_TLS12_MASTER_KEY_DERIVE_PARAMS_PTR;

typedef struct CK_TLS12_KEY_MAT_PARAMS {
	CK_ULONG                ulMacSizeInBits;
	CK_ULONG                ulKeySizeInBits;
	CK_ULONG                ulIVSizeInBits;
	CK_BBOOL                bIsExport;
	CK_SSL3_RANDOM_DATA     RandomInfo;
	CK_SSL3_KEY_MAT_OUT_PTR pReturnedKeyMaterial;
	CK_MECHANISM_TYPE       prfHashMechanism;
} CK_TLS12_KEY_MAT_PARAMS;
typedef CK_TLS12_KEY_MAT_PARAMS CK_PTR CK_TLS12_KEY_MAT_PARAMS_PTR;

typedef struct CK_TLS_KDF_PARAMS {
	CK_MECHANISM_TYPE   prfMechanism;
	CK_BYTE_PTR         pLabel;
	CK_ULONG            ulLabelLength;
	CK_SSL3_RANDOM_DATA RandomInfo;
	CK_BYTE_PTR         pContextData;
	CK_ULONG            ulContextDataLength;
} CK_TLS_KDF_PARAMS;
typedef CK_TLS_KDF_PARAMS CK_PTR CK_TLS_KDF_PARAMS_PTR;

typedef struct CK_TLS_MAC_PARAMS {
	CK_MECHANISM_TYPE prfHashMechanism;
	CK_ULONG          ulMacLength;
	CK_ULONG          ulServerOrClient;
} CK_TLS_MAC_PARAMS;
typedef CK_TLS_MAC_PARAMS CK_PTR CK_TLS_MAC_PARAMS_PTR;

/* WTLS */
typedef struct CK_WTLS_RANDOM_DATA {
	CK_BYTE_PTR pClientRandom;
	CK_ULONG    ulClientRandomLen;
	CK_BYTE_PTR pServerRandom;
	CK_ULONG    ulServerRandomLen;
} CK_WTLS_RANDOM_DATA;
typedef CK_WTLS_RANDOM_DATA CK_PTR CK_WTLS_RANDOM_DATA_PTR;

typedef struct CK_WTLS_MASTER_KEY_DERIVE_PARAMS {
	CK_MECHANISM_TYPE   DigestMechanism;
	CK_WTLS_RANDOM_DATA RandomInfo;
	CK_BYTE_PTR         pVersion;
} CK_WTLS_MASTER_KEY_DERIVE_PARAMS;
typedef CK_WTLS_MASTER_KEY_DERIVE_PARAMS CK_PTR CK_WTLS_MASTER_KEY_DERIVE_PARAMS_PTR;

typedef struct CK_WTLS_PRF_PARAMS {
	CK_MECHANISM_TYPE DigestMechanism;
	CK_BYTE_PTR       pSeed;
	CK_ULONG          ulSeedLen;
	CK_BYTE_PTR       pLabel;
	CK_ULONG          ulLabelLen;
	CK_BYTE_PTR       pOutput;
	CK_ULONG_PTR      pulOutputLen;
} CK_WTLS_PRF_PARAMS;
typedef CK_WTLS_PRF_PARAMS CK_PTR CK_WTLS_PRF_PARAMS_PTR;

typedef struct CK_WTLS_KEY_MAT_OUT {
	CK_OBJECT_HANDLE hMacSecret;
	CK_OBJECT_HANDLE hKey;
	CK_BYTE_PTR      pIV;
} CK_WTLS_KEY_MAT_OUT;
typedef CK_WTLS_KEY_MAT_OUT CK_PTR CK_WTLS_KEY_MAT_OUT_PTR;

typedef struct CK_WTLS_KEY_MAT_PARAMS {
	CK_MECHANISM_TYPE       DigestMechanism;
	CK_ULONG                ulMacSizeInBits;
	CK_ULONG                ulKeySizeInBits;
	CK_ULONG                ulIVSizeInBits;
	CK_ULONG                ulSequenceNumber;
	CK_BBOOL                bIsExport;
	CK_WTLS_RANDOM_DATA     RandomInfo;
	CK_WTLS_KEY_MAT_OUT_PTR pReturnedKeyMaterial;
} CK_WTLS_KEY_MAT_PARAMS;
typedef CK_WTLS_KEY_MAT_PARAMS CK_PTR CK_WTLS_KEY_MAT_PARAMS_PTR;

/* CMS signatures and key-in-place (KIP) */
typedef struct CK_CMS_SIG_PARAMS {
	CK_OBJECT_HANDLE certificateHandle;
	CK_MECHANISM_PTR pSigningMechanism;
	CK_MECHANISM_PTR pDigestMechanism;
	CK_UTF8CHAR_PTR  pContentType;
	CK_BYTE_PTR      pRequestedAttributes;
	CK_ULONG         ulRequestedAttributesLen;
	CK_BYTE_PTR      pRequiredAttributes;
	CK_ULONG         ulRequiredAttributesLen;
} CK_CMS_SIG_PARAMS;
typedef CK_CMS_SIG_PARAMS CK_PTR CK_CMS_SIG_PARAMS_PTR;

typedef struct CK_KIP_PARAMS {
	CK_MECHANISM_PTR pMechanism;
	CK_OBJECT_HANDLE hKey;
	CK_BYTE_PTR      pSeed;
	CK_ULONG         ulSeedLen;
} CK_KIP_PARAMS;
typedef CK_KIP_PARAMS CK_PTR CK_KIP_PARAMS_PTR;

/* GOST R 34.10 */
typedef struct CK_GOSTR3410_DERIVE_PARAMS {
	CK_EC_KDF_TYPE kdf;
	CK_BYTE_PTR    pPublicData;
	CK_ULONG       ulPublicDataLen;
	CK_BYTE_PTR    pUKM;
	CK_ULONG       ulUKMLen;
} CK_GOSTR3410_DERIVE_PARAMS;
typedef CK_GOSTR3410_DERIVE_PARAMS CK_PTR CK_GOSTR3410_DERIVE_PARAMS_PTR;

typedef struct CK_GOSTR3410_KEY_WRAP_PARAMS {
	CK_BYTE_PTR      pWrapOID;
	CK_ULONG         ulWrapOIDLen;
	CK_BYTE_PTR      pUKM;
	CK_ULONG         ulUKMLen;
	CK_OBJECT_HANDLE hKey;
} CK_GOSTR3410_KEY_WRAP_PARAMS;
typedef CK_GOSTR3410_KEY_WRAP_PARAMS CK_PTR CK_GOSTR3410_KEY_WRAP_PARAMS_PTR;

/* Fortezza-era: KEA and SKIPJACK */
typedef struct CK_KEA_DERIVE_PARAMS {
	CK_BBOOL    isSender;
	CK_ULONG    ulRandomLen;
	CK_BYTE_PTR pRandomA;
	CK_BYTE_PTR pRandomB;
	CK_ULONG    ulPublicDataLen;
	CK_BYTE_PTR pPublicData;
} CK_KEA_DERIVE_PARAMS;
typedef CK_KEA_DERIVE_PARAMS CK_PTR CK_KEA_DERIVE_PARAMS_PTR;

typedef struct CK_SKIPJACK_PRIVATE_WRAP_PARAMS {
	CK_ULONG    ulPasswordLen;
	CK_BYTE_PTR pPassword;
	CK_ULONG    ulPublicDataLen;
	CK_BYTE_PTR pPublicData;
	CK_ULONG    ulPAndGLen;
	CK_ULONG    ulQLen;
	CK_ULONG    ulRandomLen;
	CK_BYTE_PTR pRandomA;
	CK_BYTE_PTR pPrimeP;
	CK_BYTE_PTR pBaseG;
	CK_BYTE_PTR pSubprimeQ;
} CK_SKIPJACK_PRIVATE_WRAP_PARAMS;
typedef CK_SKIPJACK_PRIVATE_WRAP_PARAMS CK_PTR CK_SKIPJACK_PRIVATE_WRAP_PARAMS_PTR;

typedef struct CK_SKIPJACK_RELAYX_PARAMS {
	CK_ULONG    ulOldWrappedXLen;
	CK_BYTE_PTR pOldWrappedX;
	CK_ULONG    ulOldPasswordLen;
	CK_BYTE_PTR pOldPassword;
	CK_ULONG    ulOldPublicDataLen;
	CK_BYTE_PTR pOldPublicData;
	CK_ULONG    ulOldRandomLen;
	CK_BYTE_PTR pOldRandomA;
	CK_ULONG    ulNewPasswordLen;
	CK_BYTE_PTR pNewPassword;
	CK_ULONG    ulNewPublicDataLen;
	CK_BYTE_PTR pNewPublicData;
	CK_ULONG    ulNewRandomLen;
	CK_BYTE_PTR pNewRandomA;
} CK_SKIPJACK_RELAYX_PARAMS;
typedef CK_SKIPJACK_RELAYX_PARAMS CK_PTR CK_SKIPJACK_RELAYX_PARAMS_PTR;

/* One-time passwords */
typedef CK_ULONG CK_OTP_PARAM_TYPE;
typedef CK_OTP_PARAM_TYPE CK_PARAM_TYPE;

typedef struct CK_OTP_PARAM {
	CK_OTP_PARAM_TYPE type;
	CK_VOID_PTR   pValue;
	CK_ULONG      ulValueLen;
} CK_OTP_PARAM;
typedef CK_OTP_PARAM CK_PTR CK_OTP_PARAM_PTR;

typedef struct CK_OTP_PARAMS {
	CK_OTP_PARAM_PTR pParams;
	CK_ULONG         ulCount;
} CK_OTP_PARAMS;
typedef CK_OTP_PARAMS CK_PTR CK_OTP_PARAMS_PTR;

typedef struct CK_OTP_SIGNATURE_INFO {
	CK_OTP_PARAM_PTR pParams;
	CK_ULONG         ulCount;
} CK_OTP_SIGNATURE_INFO;
typedef CK_OTP_SIGNATURE_INFO CK_PTR CK_OTP_SIGNATURE_INFO_PTR;

/* CK_OTP_PARAM.type */
#define CK_OTP_VALUE                            0x0UL
#define CK_OTP_PIN                              0x1UL
#define CK_OTP_CHALLENGE                        0x2UL
#define CK_OTP_TIME                             0x3UL
#define CK_OTP_COUNTER                          0x4UL
#define CK_OTP_FLAGS                            0x5UL
#define CK_OTP_OUTPUT_LENGTH                    0x6UL
#define CK_OTP_OUTPUT_FORMAT                    0x7UL

/* CK_OTP_FLAGS parameter values */
#define CKF_NEXT_OTP                            0x00000001UL
#define CKF_EXCLUDE_TIME                        0x00000002UL
#define CKF_EXCLUDE_COUNTER                     0x00000004UL
#define CKF_EXCLUDE_CHALLENGE                   0x00000008UL
#define CKF_EXCLUDE_PIN                         0x00000010UL
#define CKF_USER_FRIENDLY_OTP                   0x00000020UL

/* CKA_OTP_FORMAT values */
#define CK_OTP_FORMAT_DECIMAL                   0x0UL
#define CK_OTP_FORMAT_HEXADECIMAL               0x1UL
#define CK_OTP_FORMAT_ALPHANUMERIC              0x2UL
#define CK_OTP_FORMAT_BINARY                    0x3UL

/* CKA_OTP_*_REQUIREMENT values */
#define CK_OTP_PARAM_IGNORED                    0x0UL
#define CK_OTP_PARAM_OPTIONAL                   0x1UL
#define CK_OTP_PARAM_MANDATORY                  0x2UL

/* ------------------------------------------------------------------
 * v3.0: message-based functions, session cancel, new mechanisms
 * ------------------------------------------------------------------ */

/* CK_MECHANISM_INFO.flags, and C_SessionCancel's flags */
#define CKF_MESSAGE_ENCRYPT                     0x00000002UL
#define CKF_MESSAGE_DECRYPT                     0x00000004UL
#define CKF_MESSAGE_SIGN                        0x00000008UL
#define CKF_MESSAGE_VERIFY                      0x00000010UL
#define CKF_MULTI_MESSAGE                       0x00000020UL
#define CKF_FIND_OBJECTS                        0x00000040UL

/* C_EncryptMessageNext and friends: the last part of a message */
#define CKF_END_OF_MESSAGE                      0x00000001UL

/* return values */
#define CKR_TOKEN_RESOURCE_EXCEEDED             0x201UL
#define CKR_OPERATION_CANCEL_FAILED             0x202UL

/* mechanisms */
#define CKM_EC_MONTGOMERY_KEY_PAIR_GEN          0x1056UL
#define CKM_SP800_108_COUNTER_KDF               0x3ACUL
#define CKM_SP800_108_FEEDBACK_KDF              0x3ADUL
#define CKM_SP800_108_DOUBLE_PIPELINE_KDF       0x3AEUL
#define CKM_CHACHA20_KEY_GEN                    0x1225UL
#define CKM_CHACHA20                            0x1226UL
#define CKM_POLY1305_KEY_GEN                    0x1227UL
#define CKM_POLY1305                            0x1228UL
#define CKM_SALSA20                             0x4020UL
#define CKM_CHACHA20_POLY1305                   0x4021UL
#define CKM_SALSA20_POLY1305                    0x4022UL
#define CKM_HKDF_DERIVE                         0x402AUL
#define CKM_HKDF_DATA                           0x402BUL
#define CKM_HKDF_KEY_GEN                        0x402CUL
#define CKM_SALSA20_KEY_GEN                     0x402DUL

/* IV and nonce generators of the message parameters */
typedef CK_ULONG CK_GENERATOR_FUNCTION;
#define CKG_NO_GENERATE                         0x0UL
#define CKG_GENERATE                            0x1UL
#define CKG_GENERATE_COUNTER                    0x2UL
#define CKG_GENERATE_RANDOM                     0x3UL
#define CKG_GENERATE_COUNTER_XOR                0x4UL

/* Per-message parameters: the IV (or nonce) and the tag (or MAC) may
 * be written by the token. */
typedef struct CK_GCM_MESSAGE_PARAMS {
	CK_BYTE_PTR           pIv;
	CK_ULONG              ulIvLen;
	CK_ULONG              ulIvFixedBits;
	CK_GENERATOR_FUNCTION ivGenerator;
	CK_BYTE_PTR           pTag;
	CK_ULONG              ulTagBits;
} CK_GCM_MESSAGE_PARAMS;
typedef CK_GCM_MESSAGE_PARAMS CK_PTR CK_GCM_MESSAGE_PARAMS_PTR;

typedef struct CK_CCM_MESSAGE_PARAMS {
	CK_ULONG              ulDataLen;
	CK_BYTE_PTR           pNonce;
	CK_ULONG              ulNonceLen;
	CK_ULONG              ulNonceFixedBits;
	CK_GENERATOR_FUNCTION nonceGenerator;
	CK_BYTE_PTR           pMAC;
	CK_ULONG              ulMACLen;
} CK_CCM_MESSAGE_PARAMS;
typedef CK_CCM_MESSAGE_PARAMS CK_PTR CK_CCM_MESSAGE_PARAMS_PTR;

typedef struct CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS {
	CK_BYTE_PTR pNonce;
	CK_ULONG    ulNonceLen;
	CK_BYTE_PTR pTag;
} CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS;
typedef CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS CK_PTR CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS_PTR;

/* Mechanism parameters */
typedef struct CK_EDDSA_PARAMS {
	CK_BBOOL    phFlag;
	CK_ULONG    ulContextDataLen;
	CK_BYTE_PTR pContextData;
} CK_EDDSA_PARAMS;
typedef CK_EDDSA_PARAMS CK_PTR CK_EDDSA_PARAMS_PTR;

typedef struct CK_SALSA20_CHACHA20_POLY1305_PARAMS {
	CK_BYTE_PTR pNonce;
	CK_ULONG    ulNonceLen;
	CK_BYTE_PTR pAAD;
	CK_ULONG    ulAADLen;
} CK_SALSA20_CHACHA20_POLY1305_PARAMS;
typedef CK_SALSA20_CHACHA20_POLY1305_PARAMS CK_PTR CK_SALSA20_CHACHA20_POLY1305_PARAMS_PTR;

typedef struct CK_CHACHA20_PARAMS {
	CK_BYTE_PTR pBlockCounter;
	CK_ULONG    blockCounterBits;
	CK_BYTE_PTR pNonce;
	CK_ULONG    ulNonceBits;
} CK_CHACHA20_PARAMS;
typedef CK_CHACHA20_PARAMS CK_PTR CK_CHACHA20_PARAMS_PTR;

/* CK_HKDF_PARAMS.ulSaltType */
#define CKF_HKDF_SALT_NULL                      0x00000001UL
#define CKF_HKDF_SALT_DATA                      0x00000002UL
#define CKF_HKDF_SALT_KEY                       0x00000004UL

typedef struct CK_HKDF_PARAMS {
	CK_BBOOL          bExtract;
	CK_BBOOL          bExpand;
	CK_MECHANISM_TYPE prfHashMechanism;
	CK_ULONG          ulSaltType;
	CK_BYTE_PTR       pSalt;
	CK_ULONG          ulSaltLen;
	CK_OBJECT_HANDLE  hSaltKey;
	CK_BYTE_PTR       pInfo;
	CK_ULONG          ulInfoLen;
} CK_HKDF_PARAMS;
typedef CK_HKDF_PARAMS CK_PTR CK_HKDF_PARAMS_PTR;

/* SP 800-108 key derivation: data parameters of the PRF input */
typedef CK_MECHANISM_TYPE CK_SP800_108_PRF_TYPE;
typedef CK_ULONG CK_PRF_DATA_TYPE;
#define CK_SP800_108_ITERATION_VARIABLE         0x1UL
#define CK_SP800_108_OPTIONAL_COUNTER           0x2UL
#define CK_SP800_108_DKM_LENGTH                 0x3UL
#define CK_SP800_108_BYTE_ARRAY                 0x4UL

typedef struct CK_PRF_DATA_PARAM {
	CK_PRF_DATA_TYPE type;
	CK_VOID_PTR      pValue;
	CK_ULONG         ulValueLen;
} CK_PRF_DATA_PARAM;
typedef CK_PRF_DATA_PARAM CK_PTR CK_PRF_DATA_PARAM_PTR;

typedef struct CK_SP800_108_COUNTER_FORMAT {
	CK_BBOOL bLittleEndian;
	CK_ULONG ulWidthInBits;
} CK_SP800_108_COUNTER_FORMAT;
typedef CK_SP800_108_COUNTER_FORMAT CK_PTR CK_SP800_108_COUNTER_FORMAT_PTR;

typedef CK_ULONG CK_SP800_108_DKM_LENGTH_METHOD;
#define CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS     0x1UL
#define CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS 0x2UL

typedef struct CK_SP800_108_DKM_LENGTH_FORMAT {
	CK_SP800_108_DKM_LENGTH_METHOD dkmLengthMethod;
	CK_BBOOL                       bLittleEndian;
	CK_ULONG                       ulWidthInBits;
} CK_SP800_108_DKM_LENGTH_FORMAT;
typedef CK_SP800_108_DKM_LENGTH_FORMAT CK_PTR CK_SP800_108_DKM_LENGTH_FORMAT_PTR;

typedef struct CK_DERIVED_KEY {
	CK_ATTRIBUTE_PTR     pTemplate;
	CK_ULONG             ulAttributeCount;
	CK_OBJECT_HANDLE_PTR phKey;
} CK_DERIVED_KEY;
typedef CK_DERIVED_KEY CK_PTR CK_DERIVED_KEY_PTR;

typedef struct CK_SP800_108_KDF_PARAMS {
	CK_SP800_108_PRF_TYPE prfType;
	CK_ULONG              ulNumberOfDataParams;
	CK_PRF_DATA_PARAM_PTR pDataParams;
	CK_ULONG              ulAdditionalDerivedKeys;
	CK_DERIVED_KEY_PTR    pAdditionalDerivedKeys;
} CK_SP800_108_KDF_PARAMS;
typedef CK_SP800_108_KDF_PARAMS CK_PTR CK_SP800_108_KDF_PARAMS_PTR;

typedef struct CK_SP800_108_FEEDBACK_KDF_PARAMS {
	CK_SP800_108_PRF_TYPE prfType;
	CK_ULONG              ulNumberOfDataParams;
	CK_PRF_DATA_PARAM_PTR pDataParams;
	CK_ULONG              ulIVLen;
	CK_BYTE_PTR           pIV;
	CK_ULONG              ulAdditionalDerivedKeys;
	CK_DERIVED_KEY_PTR    pAdditionalDerivedKeys;
} CK_SP800_108_FEEDBACK_KDF_PARAMS;
typedef CK_SP800_108_FEEDBACK_KDF_PARAMS CK_PTR CK_SP800_108_FEEDBACK_KDF_PARAMS_PTR;

#endif /* GOP11_PKCS11T_H */
