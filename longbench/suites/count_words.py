"""The count parser's word lists (:mod:`longbench.suites.count_parser`): what ends a noun phrase, what measures
rather than counts, what makes a number a label or an approximation, vague quantifiers, collective nouns,
and adjectives kept as entity attributes. Pure data; number words and noun morphology are in
:mod:`longbench.suites.lexicon`."""

from __future__ import annotations

# Words that end a noun phrase.
STOP = {
    "of", "in", "on", "at", "with", "by", "for", "from", "to", "into", "onto", "under", "over", "above",
    "below", "behind", "beside", "besides", "near", "next", "across", "along", "around", "through",
    "between", "among", "amongst", "against", "toward", "towards", "upon", "inside", "outside", "atop",
    "beneath", "underneath", "past", "like", "via", "during", "without", "within", "beyond", "amid",
    "and", "or", "but", "nor", "while", "as", "that", "which", "who", "whom", "whose", "where", "when",
    "the", "a", "an", "this", "these", "those", "their", "its", "his", "her", "our", "my", "your",
    "each", "every", "all", "both", "some", "any", "no", "is", "are", "was", "were", "be", "been",
    "being", "has", "have", "had", "do", "does", "did", "can", "could", "will", "would", "may",
    "might", "must", "should", "shall", "it", "they", "them", "he", "she", "we", "you", "i", "there",
    "here", "than", "then", "so", "if", "not", "also", "just", "only", "even", "too", "very", "per", "about", "up", "down", "off", "out", "away", "together", "apart", "again", "facing",
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "another",
}
# Nouns that measure rather than count.
UNIT_NOUNS = {
    "year", "month", "week", "day", "hour", "minute", "second", "decade", "century", "millennium",
    "moment", "time", "night", "morning", "evening", "afternoon", "season", "o'clock", "pm", "am",
    "percent", "degree", "mm", "cm", "m", "km", "inch", "foot", "meter", "metre", "mile", "yard",
    "kilometer", "kilometre", "centimeter", "centimetre", "millimeter", "millimetre", "gram",
    "kilogram", "kg", "g", "lb", "pound", "ounce", "oz", "liter", "litre", "ml", "gallon", "ton", "tonne",
    "acre", "hectare", "mph", "kph", "dollar", "cent", "euro", "yen", "buck", "way", "step", "story",
    "storey", "pace", "stride", "x", "k", "p", "fps", "mp", "megapixel", "hz", "kb", "mb", "gb", "bpm",
    "point", "half", "third", "quarter", "tone", "shade", "side", "end", "direction",
    "sec", "min", "hr", "hrs", "yr", "yrs",
}
# A measurement or age follows: "ten feet tall", "two years old", "three blocks away".
MEASURE_AFTER = {"tall", "high", "wide", "long", "deep", "thick", "old", "away", "apart", "across",
                  "in", "later", "ago", "earlier", "before", "after", "younger", "older"}
# Words before a number that make it a label, not a count.
LABEL_BEFORE = {
    "number", "no", "route", "platform", "gate", "room", "page", "chapter", "size", "level", "version",
    "model", "channel", "highway", "track", "apartment", "suite", "floor", "aged", "age", "ages",
    "episode", "season", "part", "act", "scene", "grade", "volume", "vol", "issue", "bus", "line",
    "flight", "pier", "exit", "jersey", "nr", "iso", "f", "type", "series", "mark", "lane",
    "row", "seat", "block", "stage", "phase", "round", "day", "week", "year", "figure", "fig",
}
APPROX_BEFORE = {"about", "approximately", "roughly", "nearly", "almost", "some", "maybe",
                  "perhaps", "circa", "than", "least", "most", "upwards", "possibly", "probably",
                  "estimated", "approx"}
# "over 20 people", "under 10 cars": approximate for large numbers, a place for small ones.
APPROX_BEFORE_LARGE = {"over", "under", "below", "above", "beyond", "around"}
RANGE_AFTER = {"or", "to", "-", "–", "—", "/"}
VAGUE = {"several", "many", "numerous", "multiple", "countless", "various", "innumerable", "myriad"}
DETERMINERS = {"the", "a", "an", "them", "these", "those", "this", "that", "which", "whom", "us", "you", "its",
                "their", "his", "her", "my", "our", "your", "it", "whose", "each", "all", "both", "any"}
PREPOSITIONS = {"in", "on", "at", "into", "onto", "from", "under", "behind", "beside", "near", "inside", "atop",
                 "above", "below", "over", "across", "along", "through", "within", "by", "to", "toward", "towards"}
VAGUE_OF = {"dozens", "hundreds", "thousands", "scores", "millions", "lots", "plenty", "loads", "tons"}
COLLECTIVE = {"pair": 2, "couple": 2, "trio": 3, "quartet": 4, "quintet": 5}
SINGLE_ADJ = {"single", "lone", "solitary", "sole"}
INTENSIFIERS = {"very", "quite", "rather", "fairly", "slightly", "extremely", "really", "so", "too",
                 "almost", "nearly", "somewhat", "incredibly", "exactly", "identical", "identically",
                 "other", "more", "similar", "same", "separate", "different", "distinct", "individual"}
# Adjectives kept as entity attributes rather than as part of the name.
ADJECTIVES = {
    "red", "orange", "yellow", "green", "blue", "purple", "violet", "pink", "brown", "black", "white",
    "gray", "grey", "silver", "golden", "gold", "beige", "cream", "teal", "turquoise", "crimson",
    "scarlet", "maroon", "navy", "ivory", "amber", "emerald", "magenta", "cyan", "lavender", "tan",
    "dark", "light", "pale", "bright", "vivid", "small", "large", "big", "tiny", "huge", "little",
    "giant", "tall", "short", "long", "wide", "narrow", "thick", "thin", "round", "square", "old", "young", "new", "ancient", "antique", "modern", "vintage", "wooden", "metal", "metallic",
    "glass", "ceramic", "plastic", "stone", "marble", "brass", "copper", "iron", "steel", "leather",
    "wool", "woolen", "woollen", "silk", "cotton", "paper", "velvet", "wicker", "bamboo", "clay",
    "porcelain", "crystal", "identical", "matching", "fluffy", "shiny", "rusty", "empty",
    "full", "open", "closed", "broken", "striped", "spotted", "plain", "ornate", "elegant", "colorful",
    "colourful", "fresh", "ripe", "dry", "wet", "hot", "cold", "warm", "soft", "hard", "heavy",
    "slender", "sleek", "worn", "weathered", "polished", "painted", "carved", "lit", "unlit",
    "glowing", "sleeping", "standing", "sitting", "smiling", "happy", "sad", "cute", "beautiful",
    "wild", "tame", "stray", "baby", "adult", "elderly", "twin", "massive", "miniature", "vibrant",
    "glossy", "neon", "juicy", "gleaming", "plump", "delicate", "intricate", "crisp", "smooth",
    "rough", "pristine", "unique", "iconic", "dusty", "sturdy", "fuzzy", "silky", "leafy", "rocky",
    "snowy", "misty", "cozy", "cosy", "matte", "translucent", "transparent", "rustic", "fancy",
    "rectangular", "circular", "cylindrical", "spherical", "triangular", "oval", "mini", "oversized",
}
# Modifiers that do not turn a unit into a countable thing ("two full days" is still a duration).
TIME_MODIFIERS = {"full", "whole", "entire", "long", "short", "more", "few", "additional", "extra",
                   "consecutive", "straight", "last", "next", "past", "previous", "first"}
VERB_SUFFIXES = ("ing", "ed")
# Nouns that measure out another ("two pairs of shoes", "five rolls of toilet paper"): the entity name
# keeps the "of" phrase; its head noun stays the partitive.
PARTITIVE = {"pair", "piece", "bar", "roll", "slice", "set", "stack", "cup", "glass", "bowl", "bottle", "jar",
              "loaf", "bunch", "bouquet", "basket", "box", "plate", "sheet", "cob", "scoop", "stick", "strip",
              "strand", "head", "ball", "block", "pile", "cluster", "group", "flock", "herd", "pack", "string",
              "row", "can", "carton", "crate", "bag", "sack", "mug", "pot", "tray", "spool", "skein", "wedge"}
# Plural-looking adjectives that may precede the head ("various" is handled as vague).
ADJ_S = {"glorious", "famous", "gorgeous", "stainless", "wireless", "countless"}
