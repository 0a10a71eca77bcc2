// Backend answer: {"<code>": "<value>", ...} → DHCPv4 options encoded by Kea's option definitions.
#ifndef REMOTE_OPTIONS_ANSWER_H
#define REMOTE_OPTIONS_ANSWER_H

#include <dhcp/option.h>

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace isc {
namespace remote_options {

enum class AnswerError {
    None,
    BadJson,     ///< not JSON, nested too deep, not an object, or a key outside 1..254
    BadValue,    ///< a value that is not a string or cannot be encoded
};

struct ParsedAnswer {
    AnswerError error = AnswerError::None;
    std::string detail;                       ///< reason when error != None
    uint16_t bad_code = 0;                    ///< the option code of a BadValue
    std::vector<isc::dhcp::OptionPtr> options;
    std::vector<uint16_t> not_allowed;        ///< valid codes outside the allowlist (ignored)
};

/// Longest encoded value accepted: the longest Kea sends as one option (it splits any option longer
/// than 255 bytes with its 2-byte header, RFC 3396).
const size_t MAX_VALUE_BYTES = 253;

/// Maximum nesting of arrays/objects accepted before Kea's recursive parser is called.
const unsigned MAX_JSON_DEPTH = 16;

/// True when the JSON text nests arrays/objects deeper than max_depth (strings are skipped).
bool jsonTooDeep(const std::string& body, unsigned max_depth);

/// Parses a backend answer. Never throws.
ParsedAnswer parseAnswer(const std::string& body, const std::set<uint16_t>& allowed);

/// Encodes one option value by Kea's definition for the code (standard, then runtime
/// option-def from the server config); codes without a definition carry the string's bytes.
/// Array-typed definitions take comma-separated values. Throws isc::BadValue with the reason (also
/// for a value longer than MAX_VALUE_BYTES).
isc::dhcp::OptionPtr encodeOption(uint16_t code, const std::string& value);

}  // namespace remote_options
}  // namespace isc

#endif
