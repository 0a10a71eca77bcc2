#include "answer.h"

#include <cc/data.h>
#include <dhcp/libdhcp++.h>
#include <dhcp/option_definition.h>
#include <dhcp/std_option_defs.h>
#include <exceptions/exceptions.h>

#include <cctype>
#include <sstream>

using isc::data::ConstElementPtr;
using isc::data::Element;
using isc::dhcp::LibDHCP;
using isc::dhcp::Option;
using isc::dhcp::OptionDefinitionPtr;
using isc::dhcp::OptionPtr;

namespace isc {
namespace remote_options {

namespace {

/// "1".."254" without sign, spaces or leading zeros.
bool parseCode(const std::string& key, uint16_t& code) {
    if (key.empty() || key.size() > 3 || key[0] == '0') {
        return (false);
    }
    unsigned v = 0;
    for (char c : key) {
        if (c < '0' || c > '9') {
            return (false);
        }
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v < 1 || v > 254) {
        return (false);
    }
    code = static_cast<uint16_t>(v);
    return (true);
}

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) {
        return (std::string());
    }
    size_t e = s.find_last_not_of(" \t");
    return (s.substr(b, e - b + 1));
}

}  // namespace

bool jsonTooDeep(const std::string& body, unsigned max_depth) {
    unsigned depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (char c : body) {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                return (true);
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return (false);
}

OptionPtr encodeOption(uint16_t code, const std::string& value) {
    if (value.empty()) {
        isc_throw(isc::BadValue, "empty value");
    }
    OptionDefinitionPtr def = LibDHCP::getOptionDef(DHCP4_OPTION_SPACE, code);
    if (!def) {
        def = LibDHCP::getRuntimeOptionDef(DHCP4_OPTION_SPACE, code);
    }
    OptionPtr opt;
    if (def) {
        std::vector<std::string> values;
        if (def->getArrayType()) {
            std::stringstream ss(value);
            std::string item;
            while (std::getline(ss, item, ',')) {
                values.push_back(trim(item));
            }
        } else {
            values.push_back(value);
        }
        try {
            opt = def->optionFactory(Option::V4, code, values);
        } catch (const std::exception& ex) {
            isc_throw(isc::BadValue, "'" << value << "' does not fit option definition '"
                      << def->getName() << "': " << ex.what());
        }
    } else {
        opt.reset(new Option(Option::V4, code, isc::dhcp::OptionBuffer(value.begin(), value.end())));
    }
    // Counted without the header and in size_t: len() includes the 2-byte header and is a uint16_t
    // (a 65,534-byte value's len() wraps to 0). 253, not 255: Kea 2.2 splits an option whose length
    // with its header exceeds 255 into several of the same code (RFC 3396), and a client that reads
    // one (the Pi's bootloader for 66/67) gets a cut value.
    size_t length = opt ? opt->toBinary(false).size() : 0;
    if (!opt || length > MAX_VALUE_BYTES) {
        isc_throw(isc::BadValue, "encoded value is " << length << " bytes; at most " << MAX_VALUE_BYTES
                  << " go out as one option");
    }
    return (opt);
}

ParsedAnswer parseAnswer(const std::string& body, const std::set<uint16_t>& allowed) {
    ParsedAnswer out;
    if (jsonTooDeep(body, MAX_JSON_DEPTH)) {
        out.error = AnswerError::BadJson;
        out.detail = "nested deeper than 16 levels";
        return (out);
    }
    ConstElementPtr doc;
    try {
        doc = Element::fromJSON(body);
    } catch (const std::exception& ex) {
        out.error = AnswerError::BadJson;
        out.detail = std::string("not JSON: ") + ex.what();
        return (out);
    }
    if (!doc || doc->getType() != Element::map) {
        out.error = AnswerError::BadJson;
        out.detail = "not a JSON object";
        return (out);
    }
    for (const auto& item : doc->mapValue()) {
        uint16_t code = 0;
        if (!parseCode(item.first, code)) {
            out.error = AnswerError::BadJson;
            out.detail = "key '" + item.first.substr(0, 32) + "' is not an option code in 1..254";
            out.options.clear();
            return (out);
        }
        if (!allowed.count(code)) {
            out.not_allowed.push_back(code);
            continue;
        }
        if (!item.second || item.second->getType() != Element::string) {
            out.error = AnswerError::BadValue;
            out.bad_code = code;
            out.detail = "not a JSON string";
            out.options.clear();
            return (out);
        }
        try {
            out.options.push_back(encodeOption(code, item.second->stringValue()));
        } catch (const std::exception& ex) {
            out.error = AnswerError::BadValue;
            out.bad_code = code;
            out.detail = ex.what();
            out.options.clear();
            return (out);
        }
    }
    return (out);
}

}  // namespace remote_options
}  // namespace isc
