"""json: dumps, loads, custom encoders and decoders, files."""
import decimal
import io
import json


class Encoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, decimal.Decimal):
            return str(o)
        return super().default(o)


data = {"a": [1, 2.5, None, True], "b": {"c": "é"}}
text = json.dumps(data, sort_keys=True, indent=2)
print(json.loads(text) == data, json.dumps(decimal.Decimal("1.5"),
                                           cls=Encoder))
print(json.loads('{"x": 1.5}', parse_float=decimal.Decimal))
f = io.StringIO()
json.dump(data, f, ensure_ascii=False)
f.seek(0)
print(json.load(f, object_pairs_hook=list))
try:
    json.loads("{bad")
except json.JSONDecodeError as e:
    print("error at", e.pos)
