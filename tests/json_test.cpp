#include "io/json.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace veloxquant {
namespace {

TEST(Json, RoundTripsValuesAndKeepsKeyOrder) {
  Json o = Json::object();
  o.set("z", Json::unsigned_integer(18446744073709551615ull));
  o.set("a", Json::number(0.1));
  o.set("s", Json::string("tab\t\"q\" \\ \x01"));
  Json arr = Json::array();
  arr.push(Json::integer(-3));
  arr.push(Json::boolean(true));
  arr.push(Json());
  o.set("arr", arr);
  for (int indent : {0, 2}) {
    const Json back = Json::parse(o.dump(indent));
    EXPECT_EQ(back.dump(indent), o.dump(indent));
    EXPECT_EQ(back.at("z").as_u64("z"), 18446744073709551615ull);  // exact, beyond 2^53
    EXPECT_EQ(back.at("a").as_double("a"), 0.1);
    EXPECT_EQ(back.at("s").as_string("s"), "tab\t\"q\" \\ \x01");
    EXPECT_EQ(back.at("arr").as_array("arr")[0].as_int("arr[0]"), -3);
    EXPECT_EQ(back.items().front().first, "z");
  }
}

TEST(Json, ParsesEscapesAndRejectsMalformedText) {
  EXPECT_EQ(Json::parse(R"("\u00e9\n\/")").as_string("s"), "\xc3\xa9\n/");
  const char* bad[] = {"",      "{",   "{\"a\":}", "[1,]",    "{\"a\":1,\"a\":2}", "01",          "1.", "-",
                       "\"abc", "tru", "[1] 2",    "\"\\x\"", "{'a':1}",           "\"\\ud800\"", "1e"};
  for (const char* text : bad) EXPECT_THROW(Json::parse(text), std::runtime_error) << text;
  std::string deep(100, '[');
  EXPECT_THROW(Json::parse(deep), std::runtime_error);
}

// Code points above U+FFFF come escaped as a surrogate pair (Python's json.dumps does so).
TEST(Json, ParsesSurrogatePairsAndRejectsLoneSurrogates) {
  EXPECT_EQ(Json::parse(R"("a\ud83d\ude00b")").as_string("s"),
            "a\xF0\x9F\x98\x80"
            "b");                                                                  // U+1F600
  EXPECT_EQ(Json::parse(R"("\udbff\udfff")").as_string("s"), "\xF4\x8F\xBF\xBF");  // U+10FFFF
  for (const char* text :
       {R"("\ud83d")", R"("\ud83dx")", R"("\ud83d\u0041")", R"("\ude00")", R"("\ud83d\ud83d")", R"("\ud83d\u12")"})
    EXPECT_THROW(Json::parse(text), std::runtime_error) << text;
}

TEST(Json, TypedAccessNamesTheField) {
  const Json j = Json::parse(R"({"dim": "128", "seed": -1, "big": 18446744073709551616})");
  try {
    j.at("dim").as_int("manifest.dim");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("manifest.dim must be an integer, got a string"), std::string::npos);
  }
  EXPECT_THROW(j.at("seed").as_u64("seed"), std::runtime_error);
  EXPECT_THROW(j.at("big").as_u64("big"), std::runtime_error);
  EXPECT_THROW(j.at("missing"), std::runtime_error);
  EXPECT_THROW(Json::number(1.0 / 0.0), std::runtime_error);
  EXPECT_EQ(Json::number_or_null(1.0 / 0.0).dump(0), "null");
  // Shortest round-trip text: short where the value is, all the digits where it needs them.
  EXPECT_EQ(Json::number(0.1).dump(0), "0.1");
  EXPECT_EQ(Json::number(1.0 / 3.0).dump(0), "0.3333333333333333");
  EXPECT_EQ(Json::parse(Json::number(1.0 / 3.0).dump(0)).as_double("x"), 1.0 / 3.0);
}

}  // namespace
}  // namespace veloxquant
