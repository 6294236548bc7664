"""What a child question is read with: every property the Question schemas (QuML 1.0 and 1.1) define.

The source's question read returns only the fields it is asked for, so this list decides what
reaches the target (the original asked for every schema property and every external property). It is the
default of ``source.question_fields``; a deployment whose schema has more properties adds them there.
Properties the target's own publish produces are still left out of what is written
(``object.publish_props``).
"""

from __future__ import annotations

DESCRIPTION = ("name", "code", "description", "mimeType", "primaryCategory", "additionalCategories", "keywords",
               "visibility", "copyright", "license", "appIcon", "posterImage", "language", "languageCode",
               "channel", "author", "creator", "attributions", "audience", "organisationId", "programId",
               "createdFor", "createdBy", "lastUpdatedBy", "lastSubmittedBy", "lastPublishedBy", "publisher",
               "collaborators", "origin", "originData", "ownershipType", "consumerId", "assets",
               "publishChecklist", "publishComment", "requestChanges", "rejectComment", "reviewError",
               "accessibility", "termsAndConditions", "allowAnonymousAccess", "dailySummaryReportEnabled", "owner",
               "lockKey", "version", "semanticVersion")
FORMAT = ("schemaVersion", "qumlVersion", "contentEncoding", "contentDisposition", "migrationVersion", "qType",
          "interactionTypes", "templateId", "bloomsLevel", "complexityLevel", "maxScore", "scoringMode",
          "expectedDuration", "timeLimits", "completionCriteria", "eval", "showTimer", "showFeedback", "showHints",
          "showSolutions", "showRemarks", "remarks", "showEvidence", "evidence", "itemType", "responseDeclaration",
          "timeLimit", "responseProcessing", "templateDeclaration", "choices", "rhsChoices")
FRAMEWORK = ("framework", "board", "medium", "gradeLevel", "subject", "topic", "boardIds", "mediumIds",
             "gradeLevelIds", "subjectIds", "topicsIds", "targetFWIds", "targetBoardIds", "targetMediumIds",
             "targetGradeLevelIds", "targetSubjectIds", "targetTopicIds", "se_FWIds", "se_boardIds", "se_mediumIds",
             "se_gradeLevelIds", "se_subjectIds", "se_topicIds", "se_boards", "se_mediums", "se_gradeLevels",
             "se_subjects", "se_topics")
# Kept outside the graph (Cassandra's question_data): the question itself.
EXTERNAL = ("body", "editorState", "answer", "solutions", "instructions", "hints", "media", "interactions",
            "outcomeDeclaration", "feedback")

QUESTION_FIELDS = tuple(dict.fromkeys(DESCRIPTION + FORMAT + FRAMEWORK + EXTERNAL))
