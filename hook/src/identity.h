// Client identity: matching by option 77/97, option-82 sub-option parsing, backend query string.
#ifndef REMOTE_OPTIONS_IDENTITY_H
#define REMOTE_OPTIONS_IDENTITY_H

#include <dhcp/pkt4.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace isc {
namespace remote_options {

typedef std::vector<uint8_t> Bytes;

/// Lower-case hex of the bytes.
std::string toHex(const uint8_t* data, size_t len);
inline std::string toHex(const Bytes& b) { return (toHex(b.data(), b.size())); }

/// True when needle is a non-empty substring of hay.
bool containsBytes(const Bytes& hay, const std::string& needle);

/// Option 97 matcher: the configured value or its byte reversal ("RPi4" also matches "4iPR").
bool guidMatches(const Bytes& guid_payload, const std::string& machine_guid);

/// Parses relay-agent sub-options (code, len, data)*. Returns false on a truncated or
/// otherwise malformed buffer (a sub-option's length runs past the end, or a lone code byte).
/// The first occurrence of a code wins. Zero-length sub-options are kept (empty value).
bool parseSubOptions(const uint8_t* data, size_t len, std::map<uint8_t, Bytes>& out);

/// The option-82 identity of one client, hex-encoded, plus the optional identity extras.
struct Identity {
    std::string sub1;   ///< circuit-id
    std::string sub2;   ///< remote-id
    std::string sub9;   ///< vendor-specific
    std::string mac;    ///< chaddr
    std::string guid;   ///< option 97 payload
    /// "sub82_1=..&sub82_2=..[&sub82_9=..][&mac=..][&guid=..]": only present, non-empty parts.
    std::string query() const;
};

/// Builds the identity from the sub-options. Empty sub-options count as absent.
/// Returns false (with the reason in why) when neither circuit-id nor remote-id is present.
bool identityFromSubOptions(const std::map<uint8_t, Bytes>& subs, Identity& id, std::string& why);

/// Joins the base URL and a query string ('?' or '&' depending on the base).
std::string buildUrl(const std::string& base, const std::string& query);

/// The bytes of an option's payload as it was on the wire (sub-options packed again).
Bytes optionPayload(const isc::dhcp::OptionPtr& opt);

}  // namespace remote_options
}  // namespace isc

#endif
