"""The road network: intersections and directed road segments, routable with pgRouting."""
