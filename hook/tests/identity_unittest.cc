// URL building, option-82 sub-option parsing and client matching.
#include "identity.h"
#include "test_util.h"

#include <gtest/gtest.h>

using namespace isc::remote_options;
using test::bytes;
using test::concat;
using test::tlv;

namespace {

TEST(IdentityTest, Hex) {
    EXPECT_EQ("", toHex(Bytes()));
    EXPECT_EQ("00ff0a", toHex(Bytes{0x00, 0xff, 0x0a}));
    EXPECT_EQ("4769312f302f31", toHex(bytes("Gi1/0/1")));
}

TEST(IdentityTest, ParseSubOptions) {
    Bytes raw = concat({tlv(1, bytes("Gi1/0/1")), tlv(2, bytes("tor-a-01")), tlv(9, Bytes{0, 0, 0x0d, 0xe9})});
    std::map<uint8_t, Bytes> subs;
    ASSERT_TRUE(parseSubOptions(raw.data(), raw.size(), subs));
    EXPECT_EQ(bytes("Gi1/0/1"), subs[1]);
    EXPECT_EQ(bytes("tor-a-01"), subs[2]);
    EXPECT_EQ((Bytes{0, 0, 0x0d, 0xe9}), subs[9]);
}

TEST(IdentityTest, TruncatedSubOptions) {
    std::map<uint8_t, Bytes> subs;
    Bytes runs_past{1, 10, 'a', 'b'};
    EXPECT_FALSE(parseSubOptions(runs_past.data(), runs_past.size(), subs));
    Bytes lone_code = concat({tlv(1, bytes("a")), Bytes{2}});
    subs.clear();
    EXPECT_FALSE(parseSubOptions(lone_code.data(), lone_code.size(), subs));
}

TEST(IdentityTest, ZeroLengthAndDuplicateSubOptions) {
    Bytes raw = concat({tlv(1, Bytes()), tlv(2, bytes("r")), tlv(2, bytes("second"))});
    std::map<uint8_t, Bytes> subs;
    ASSERT_TRUE(parseSubOptions(raw.data(), raw.size(), subs));
    EXPECT_TRUE(subs[1].empty());
    EXPECT_EQ(bytes("r"), subs[2]);   // the first occurrence wins
    Identity id;
    std::string why;
    ASSERT_TRUE(identityFromSubOptions(subs, id, why));
    EXPECT_EQ("sub82_2=72", id.query());   // empty circuit-id is left out
}

TEST(IdentityTest, NoUsableIdentity) {
    std::map<uint8_t, Bytes> subs;
    subs[1] = Bytes();
    subs[9] = bytes("v");
    Identity id;
    std::string why;
    EXPECT_FALSE(identityFromSubOptions(subs, id, why));
    EXPECT_NE(std::string::npos, why.find("circuit-id"));
}

TEST(IdentityTest, HugeSubOption) {
    Bytes big(255, 0xab);
    Bytes raw = concat({tlv(1, big), tlv(2, bytes("x"))});
    std::map<uint8_t, Bytes> subs;
    ASSERT_TRUE(parseSubOptions(raw.data(), raw.size(), subs));
    Identity id;
    std::string why;
    ASSERT_TRUE(identityFromSubOptions(subs, id, why));
    EXPECT_EQ(510u, id.sub1.size());
}

TEST(IdentityTest, QueryOnlyPresentParts) {
    Identity id;
    id.sub2 = "7472";
    EXPECT_EQ("sub82_2=7472", id.query());
    id.sub1 = "01";
    id.sub9 = "09";
    id.mac = "dca632000001";
    id.guid = "00525069";
    EXPECT_EQ("sub82_1=01&sub82_2=7472&sub82_9=09&mac=dca632000001&guid=00525069", id.query());
}

TEST(IdentityTest, BuildUrl) {
    EXPECT_EQ("http://h/o?a=1", buildUrl("http://h/o", "a=1"));
    EXPECT_EQ("http://h/o?k=v&a=1", buildUrl("http://h/o?k=v", "a=1"));
    EXPECT_EQ("http://h/o?a=1", buildUrl("http://h/o?", "a=1"));
    EXPECT_EQ("http://h/o?k=v&a=1", buildUrl("http://h/o?k=v&", "a=1"));
    EXPECT_EQ("http://h/o", buildUrl("http://h/o", ""));
}

TEST(IdentityTest, Matching) {
    EXPECT_TRUE(containsBytes(bytes("xxmalinayy"), "malina"));
    EXPECT_FALSE(containsBytes(bytes("malin"), "malina"));
    EXPECT_FALSE(containsBytes(bytes("malina"), ""));
    EXPECT_TRUE(guidMatches(test::piGuid("RPi4"), "RPi4"));
    EXPECT_TRUE(guidMatches(test::piGuid("4iPR"), "RPi4"));   // byte-swapped fourcc
    EXPECT_FALSE(guidMatches(test::piGuid("RPi3"), "RPi4"));
    EXPECT_FALSE(guidMatches(test::piGuid("RPi4"), ""));
}

}  // namespace
